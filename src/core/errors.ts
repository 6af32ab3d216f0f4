/**
 * Every error usertrust throws is a UsertrustError with a stable `code`, so callers can branch on
 * the code instead of parsing messages. Messages say what happened, why, and what to change.
 */
export class UsertrustError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** The ledger refused a hold: the budget left is smaller than the hold this call needs. */
export class BudgetExceededError extends UsertrustError {
  readonly neededUsertokens: number;
  readonly remainingUsertokens: number;
  /** The scoped budget account that refused, when it was not the vault's own budget. */
  readonly account: string | undefined;

  constructor(neededUsertokens: number, remainingUsertokens: number, account?: string) {
    super(
      "BUDGET_EXCEEDED",
      account === undefined
        ? `Budget exceeded: this call needs a hold of ${neededUsertokens} UT but only ${remainingUsertokens} UT ` +
            "remain (budget − spent − held). Raise `budget` in usertrust.config.json or the trust() options, " +
            "lower max_tokens, or wait for in-flight calls to settle."
        : `Budget ${account} exceeded: this call needs a hold of ${neededUsertokens} UT but only ` +
            `${remainingUsertokens} UT remain in it (limit − spent − held). Raise that budget's \`limit\` under ` +
            "`budgets` in usertrust.config.json, lower max_tokens, or wait for held calls to settle (or, for a " +
            "budget with a period, for the next period).",
    );
    this.neededUsertokens = neededUsertokens;
    this.remainingUsertokens = remainingUsertokens;
    this.account = account;
  }
}

/** The vault config file is missing a field, has a wrong type, or is not valid JSON. */
export class ConfigError extends UsertrustError {
  readonly file: string;
  readonly field: string | undefined;
  readonly line: number | undefined;

  constructor(file: string, message: string, location: { field?: string; line?: number } = {}) {
    const where = location.line === undefined ? file : `${file}:${location.line}`;
    const what = location.field === undefined ? "" : ` (field \`${location.field}\`)`;
    super("CONFIG_INVALID", `${where}${what}: ${message}`);
    this.file = file;
    this.field = location.field;
    this.line = location.line;
  }
}

/** The model has no known price and the config says unknown models are denied. */
export class UnknownModelError extends UsertrustError {
  readonly model: string;
  readonly provider: string;

  constructor(provider: string, model: string) {
    super(
      "UNKNOWN_MODEL",
      `No price is known for ${provider} model "${model}", so its cost cannot be held against the budget. ` +
        `Add it under \`pricing\` in usertrust.config.json (USD per million tokens), or set \`unknownModel\` ` +
        `to "warn" or to { "rate": { "inputPerMTok": …, "outputPerMTok": … } }.`,
    );
    this.model = model;
    this.provider = provider;
  }
}

/** The ledger could not be reached or its store failed; the call is refused rather than left unaccounted. */
export class LedgerUnavailableError extends UsertrustError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("LEDGER_UNAVAILABLE", message, options);
  }
}

/** A hold was used in a way the ledger forbids, e.g. posting a hold that was already voided. */
export class HoldStateError extends UsertrustError {
  constructor(message: string) {
    super("HOLD_STATE", message);
  }
}

/** The audit chain could not be written or read. */
export class AuditError extends UsertrustError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("AUDIT_FAILED", message, options);
  }
}

/**
 * A call's scope has an empty, "." or ".." segment. Scope globs (scoped budgets, policy
 * scopePatterns) cannot place `team-a/../x` under `team-a/**`, so such a scope could slip past a
 * budget or a rule: it is refused instead.
 */
export class InvalidScopeError extends UsertrustError {
  readonly scope: string;

  constructor(scope: string) {
    super(
      "INVALID_SCOPE",
      `The scope "${scope}" has an empty, "." or ".." segment, which budgets and policy rules could not ` +
        'place. Use plain path segments such as "team-a/agent-1" in trust({ scope }), the middleware ' +
        "options or withTrustContext.",
    );
    this.scope = scope;
  }
}

/** A governed client or engine was used after destroy(). */
export class ClientDestroyedError extends UsertrustError {
  constructor() {
    super(
      "CLIENT_DESTROYED",
      "This usertrust client was destroyed; its ledger and audit chain are closed. Create a new one with trust().",
    );
  }
}

/** trust() was given an object that is not a client usertrust can govern. */
export class UnsupportedClientError extends UsertrustError {
  constructor(message: string) {
    super("UNSUPPORTED_CLIENT", message);
  }
}

/** A policy rule with a hard deny matched the call; nothing was sent. */
export class PolicyDeniedError extends UsertrustError {
  readonly rule: string;
  readonly reason: string;
  readonly severity: string;

  constructor(rule: string, reason: string, severity: string) {
    super(
      "POLICY_DENIED",
      `Policy rule "${rule}" (${severity}) denied this call: ${reason}. Change the request, or edit or disable ` +
        'the rule in .usertrust/policies (set `enforcement` to "warn" or "log" in the config to only record it).',
    );
    this.rule = rule;
    this.reason = reason;
    this.severity = severity;
  }
}

/** The provider's circuit is open after repeated failures; calls are refused until it is probed again. */
export class CircuitOpenError extends UsertrustError {
  readonly provider: string;
  /** The base URL origin of the paused circuit, when the client names its own endpoint. */
  readonly endpoint: string | undefined;
  readonly retryAfterMs: number;

  constructor(provider: string, retryAfterMs: number, detail: string, endpoint?: string) {
    super(
      "CIRCUIT_OPEN",
      `Calls to ${provider}${endpoint === undefined ? "" : ` at ${endpoint}`} are paused: ${detail}. ` +
        `The circuit lets one probe call through in ${Math.ceil(retryAfterMs / 1000)} s; tune ` +
        "`circuitBreaker` in usertrust.config.json.",
    );
    this.provider = provider;
    this.endpoint = endpoint;
    this.retryAfterMs = retryAfterMs;
  }
}

/** A tool call the model asked for was refused by the policy gate or the board. */
export class ToolDeniedError extends UsertrustError {
  readonly toolName: string;
  readonly reason: string;

  constructor(toolName: string, reason: string) {
    super("TOOL_DENIED", `The tool call ${toolName} was refused: ${reason}`);
    this.toolName = toolName;
    this.reason = reason;
  }
}
