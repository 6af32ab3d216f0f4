import { AsyncLocalStorage } from "node:async_hooks";
import type { GovernedRequest } from "../governed-request.ts";

/** Who is calling and from where, for policies, the board and the audit log. */
export interface TrustContext {
  /** e.g. "production/api" or ["team-a/search", "production"]; matched by policy scopePatterns. */
  scope?: string | readonly string[];
  /** An agent or user id; named on audit events. */
  actor?: string;
  /** Caller fields policies can read as `metadata.<key>`. */
  metadata?: Readonly<Record<string, unknown>>;
}

const current = new AsyncLocalStorage<TrustContext>();

/**
 * Runs `work` with a per-call context: every governed call it makes — directly, through an SDK
 * helper, or later in a stream it opened — carries this scope, actor and metadata. Nested calls
 * refine the outer context: scope and actor are replaced, metadata is merged.
 *
 *   await withTrustContext({ scope: "production/search", actor: "agent-7" }, () =>
 *     client.chat.completions.create({ … }));
 */
export function withTrustContext<T>(context: TrustContext, work: () => T): T {
  return current.run(merge(current.getStore() ?? {}, context), work);
}

function merge(outer: TrustContext, inner: TrustContext): TrustContext {
  const merged: TrustContext = { ...outer, ...inner };
  if (outer.metadata !== undefined || inner.metadata !== undefined) {
    merged.metadata = { ...outer.metadata, ...inner.metadata };
  }
  return merged;
}

/** The caller context in force now: the per-call context (withTrustContext) over `defaults`. */
export function callerContext(defaults: TrustContext): TrustContext {
  return merge(defaults, current.getStore() ?? {});
}

/**
 * The request with its caller context: the per-call context wins over what the request body says
 * (e.g. OpenAI's `user`), which wins over the client's defaults from trust().
 */
export function withCallerContext(request: GovernedRequest, defaults: TrustContext): GovernedRequest {
  const context = merge(defaults, current.getStore() ?? {});
  const governed: GovernedRequest = { ...request };
  const actor = current.getStore()?.actor ?? request.actor ?? defaults.actor;
  if (actor !== undefined) governed.actor = actor;
  if (context.scope !== undefined) {
    governed.scope = typeof context.scope === "string" ? [context.scope] : [...context.scope];
  }
  if (context.metadata !== undefined) governed.metadata = context.metadata;
  return governed;
}
