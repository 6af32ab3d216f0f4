export type { StreamMeter } from "./adapters/governed-call.ts";
export { GovernedStream } from "./adapters/governed-stream.ts";
export { receiptOf, receiptsOf } from "./adapters/receipt-trail.ts";
export {
  detectClientKind,
  type LLMClientKind,
  type ResponseShape,
  type TrustOpts,
  trust,
} from "./adapters/trust.ts";
export { type TrustContext, withTrustContext } from "./adapters/trust-context.ts";
export type { TrustedClient, TrustedResponse } from "./adapters/trusted-client.ts";
export { type AuditEvent, type AuditEventKind, GENESIS_HASH, hashEvent } from "./core/audit/audit-event.ts";
export {
  type ChainProblem,
  type ChainProblemKind,
  type ChainVerification,
  verifyChain,
} from "./core/audit/verify-chain.ts";
export { canonicalJson } from "./core/canonical-json.ts";
export { defaultConfig, loadConfig, type TrustConfig } from "./core/config.ts";
export { createEngine, Engine, type EngineOptions } from "./core/engine.ts";
export {
  AuditError,
  BudgetExceededError,
  ClientDestroyedError,
  ConfigError,
  HoldStateError,
  LedgerUnavailableError,
  UnknownModelError,
  UnsupportedClientError,
  UsertrustError,
} from "./core/errors.ts";
export type { GovernedRequest } from "./core/governed-request.ts";
export { Hold, type HoldTerms } from "./core/hold.ts";
export type { HoldState, Ledger, LedgerBalance, PostResult } from "./core/ledger/ledger.ts";
export { MemoryLedger } from "./core/ledger/memory-ledger.ts";
export { SqliteLedger } from "./core/ledger/sqlite-ledger.ts";
export { costUsertokens, type ModelRates, PriceBook } from "./core/price-book.ts";
export type { TrustReceipt } from "./core/receipt.ts";
export type { Usage, UsageSource } from "./core/usage.ts";
export { initVault, resolveVault, type VaultPaths } from "./core/vault.ts";
