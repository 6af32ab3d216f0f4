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
export type { TrustedClient, TrustedResponse } from "./adapters/trusted-client.ts";
export { type AuditEvent, type AuditEventKind, GENESIS_HASH, hashEvent } from "./core/audit/audit-event.ts";
export {
  type ChainProblem,
  type ChainProblemKind,
  type ChainVerification,
  verifyChain,
} from "./core/audit/verify-chain.ts";
export { type Board, createBoard } from "./core/board/board.ts";
export { BoardBlockedError, BoardEscalatedError } from "./core/board/board-errors.ts";
export type {
  BoardDecision,
  BoardReviewResult,
  BoardStats,
  ConcernType,
  DetectedConcern,
  DirectorReview,
  DirectorVote,
} from "./core/board/board-types.ts";
export type { EscalationHandler } from "./core/board/escalation.ts";
export type { BudgetLine, BudgetReport } from "./core/budgets/budget-report.ts";
export { canonicalJson } from "./core/canonical-json.ts";
export { CircuitBreaker, type CircuitState } from "./core/circuit-breaker.ts";
export { defaultConfig, loadConfig, type TrustConfig } from "./core/config.ts";
export { createEngine, type EngineOptions } from "./core/create-engine.ts";
export { Engine } from "./core/engine.ts";
export {
  AuditError,
  BudgetExceededError,
  CircuitOpenError,
  ClientDestroyedError,
  ConfigError,
  HoldStateError,
  InvalidScopeError,
  LedgerUnavailableError,
  PolicyDeniedError,
  ToolDeniedError,
  UnknownModelError,
  UnsupportedClientError,
  UsertrustError,
} from "./core/errors.ts";
export type { GovernedRequest } from "./core/governed-request.ts";
export { InjectionBlockedError, PiiBlockedError } from "./core/guards/guard-errors.ts";
export { findInjection } from "./core/guards/injection-detector.ts";
export { findPii, type PiiKind, scanPii } from "./core/guards/pii-detector.ts";
export { Redactor } from "./core/guards/redactor.ts";
export { Hold, type HoldTerms } from "./core/hold.ts";
export type {
  AccountBalance,
  BudgetAccount,
  HoldState,
  Ledger,
  LedgerBalance,
  PostResult,
} from "./core/ledger/ledger.ts";
export { MemoryLedger } from "./core/ledger/memory-ledger.ts";
export { SqliteLedger } from "./core/ledger/sqlite-ledger.ts";
export { evaluatePolicies } from "./core/policy/evaluate-policies.ts";
export { loadPolicies, loadPolicyFile } from "./core/policy/policy-file.ts";
export { PolicyLoadError } from "./core/policy/policy-load-error.ts";
export type {
  FieldCondition,
  FieldOperator,
  PolicyContext,
  PolicyEffect,
  PolicyEnforcement,
  PolicyResult,
  PolicyRule,
  PolicySeverity,
  RuleMatch,
  TimeWindow,
} from "./core/policy/policy-rule.ts";
export { costUsertokens, type ModelRates, PriceBook } from "./core/price-book.ts";
export type { TrustReceipt } from "./core/receipt.ts";
export { type TrustContext, withTrustContext } from "./core/surface/trust-context.ts";
export type { StreamUsage, Usage, UsageSource } from "./core/usage.ts";
export { initVault, resolveVault, type VaultPaths } from "./core/vault.ts";
