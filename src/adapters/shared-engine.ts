import { createEngine, type Engine, type EngineOptions } from "../core/engine.ts";
import { resolveVault } from "../core/vault.ts";

const engines = new Map<string, Promise<Engine>>();

/**
 * The engine of a vault, opened on first use and shared by every middleware on that vault in
 * this process (one ledger connection, one audit writer). A closed engine is replaced on next use.
 * Options other than the vault's location apply when the engine is first opened.
 */
export async function sharedEngine(options: EngineOptions): Promise<Engine> {
  const key = resolveVault(options).config;
  const existing = engines.get(key);
  if (existing !== undefined) {
    const engine = await existing.catch(() => undefined);
    if (engine !== undefined && !engine.closed) return engine;
  }
  const opening = createEngine(options);
  engines.set(key, opening);
  opening.catch(() => engines.delete(key));
  return opening;
}
