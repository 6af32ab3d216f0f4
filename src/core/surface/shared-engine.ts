import { createEngine, type EngineOptions } from "../create-engine.ts";
import { type CallOptions, Engine } from "../engine.ts";
import type { GovernedRequest } from "../governed-request.ts";
import type { TrustReceipt } from "../receipt.ts";
import { resolveVault } from "../vault.ts";
import type { TrustContext } from "./trust-context.ts";

const engines = new Map<string, Promise<Engine>>();

/**
 * The engine of a vault, opened on first use and shared by every surface on that vault in this
 * process that passes the same settings (one ledger connection, one audit writer); surfaces with
 * other settings (a `config` override, a budget) get an engine of their own on the same vault — one
 * budget and one chain either way, as with two trust() clients. A closed engine is replaced on next
 * use. `actor` and `onEscalate` are not engine settings: surfaces pass them with each call.
 */
export async function sharedEngine(options: EngineOptions): Promise<Engine> {
  const { actor: _actor, onEscalate: _onEscalate, ...settings } = options;
  const key = engineKey(settings);
  const existing = engines.get(key);
  if (existing !== undefined) {
    const engine = await existing.catch(() => undefined);
    if (engine !== undefined && !engine.closed) return engine;
  }
  const opening = createEngine(settings);
  engines.set(key, opening);
  opening.catch(() => engines.delete(key));
  return opening;
}

/** Equal settings give equal keys: data by value (object keys sorted), a ledger or clock by identity. */
function engineKey(settings: EngineOptions): string {
  const { vaultBase: _base, configPath: _path, ledger, clock, ...data } = settings;
  return JSON.stringify([
    resolveVault(settings).config,
    ledger === undefined ? null : identity(ledger),
    clock === undefined ? null : identity(clock),
    sortedKeys(data),
  ]);
}

const identities = new WeakMap<object, number>();
let lastIdentity = 0;

function identity(value: object): number {
  let id = identities.get(value);
  if (id === undefined) {
    lastIdentity += 1;
    id = lastIdentity;
    identities.set(value, id);
  }
  return id;
}

function sortedKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortedKeys);
  if (typeof value !== "object" || value === null) return value;
  const sorted: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort())
    sorted[key] = sortedKeys((value as Record<string, unknown>)[key]);
  return sorted;
}

/** What every framework surface takes: the trust() options, or an engine of your own. */
export interface SurfaceOptions extends EngineOptions, TrustContext {
  /** An engine from createEngine() to use instead of opening (and sharing) one per vault. */
  engine?: Engine;
  /** Called with the receipt of every model call, settled or released. */
  onReceipt?: (receipt: TrustReceipt) => void;
}

/** Options given as an engine or as settings, in one shape. */
export function surfaceSettings(options: SurfaceOptions | Engine): SurfaceOptions {
  return options instanceof Engine ? { engine: options } : options;
}

/** The engine a surface uses: its own, or the vault's shared one, opened on first use. */
export function surfaceEngine(settings: SurfaceOptions): () => Promise<Engine> {
  if (settings.engine !== undefined) {
    const engine = settings.engine;
    return () => Promise.resolve(engine);
  }
  const { engine: _engine, onReceipt: _onReceipt, scope: _scope, metadata: _metadata, ...options } = settings;
  return () => sharedEngine(options);
}

/** What a surface passes with each of its calls: its own escalation handler, when it has one. */
export function surfaceCallOptions(settings: SurfaceOptions): CallOptions {
  return settings.onEscalate === undefined ? {} : { onEscalate: settings.onEscalate };
}

/** The scope, actor and metadata a surface's calls default to. */
export function surfaceContext(settings: SurfaceOptions): TrustContext {
  const context: TrustContext = {};
  if (settings.scope !== undefined) context.scope = settings.scope;
  if (settings.actor !== undefined) context.actor = settings.actor;
  if (settings.metadata !== undefined) context.metadata = settings.metadata;
  return context;
}

/** A per-call context (e.g. from framework metadata) over a request: scope and actor replaced, metadata merged. */
export function overlayContext(request: GovernedRequest, call: TrustContext): GovernedRequest {
  const governed: GovernedRequest = { ...request };
  if (call.actor !== undefined) governed.actor = call.actor;
  if (call.scope !== undefined)
    governed.scope = typeof call.scope === "string" ? [call.scope] : [...call.scope];
  if (call.metadata !== undefined) governed.metadata = { ...request.metadata, ...call.metadata };
  return governed;
}

/** A context object from untyped input (framework metadata, providerOptions); wrong types are ignored. */
export function parseContext(value: unknown): TrustContext {
  const context: TrustContext = {};
  if (typeof value !== "object" || value === null) return context;
  const { scope, actor, metadata } = value as Record<string, unknown>;
  if (
    typeof scope === "string" ||
    (Array.isArray(scope) && scope.every((entry) => typeof entry === "string"))
  ) {
    context.scope = scope as string | string[];
  }
  if (typeof actor === "string") context.actor = actor;
  if (typeof metadata === "object" && metadata !== null)
    context.metadata = metadata as Record<string, unknown>;
  return context;
}

/** A receipt as plain JSON, for framework metadata fields that must hold JSON. */
export function receiptJson(receipt: TrustReceipt): Record<string, unknown> {
  return JSON.parse(JSON.stringify(receipt)) as Record<string, unknown>;
}
