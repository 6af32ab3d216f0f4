import { CircuitOpenError } from "./errors.ts";

export type CircuitState = "closed" | "open" | "half_open";

/** How a governed call ended, as far as the provider's health is concerned. */
export type CallOutcome = "success" | "provider_fault" | "neutral";

export interface CircuitOptions {
  /** Consecutive provider faults that open the circuit. */
  failureThreshold: number;
  /** Milliseconds an open circuit waits before letting one probe call through. */
  resetTimeoutMs: number;
  /**
   * Milliseconds after which a probe that never reported back (a stream nobody reads) counts as
   * lost, and the next call becomes the probe: the engine's hold timeout, when its hold stops
   * counting too. Default: no limit.
   */
  probeTimeoutMs?: number;
}

/** Whose health a circuit tracks: a provider, or a provider at an endpoint of its own (a base URL). */
export interface CircuitTarget {
  readonly provider: string;
  readonly endpoint?: string | undefined;
}

/** A call let through the breaker; report its outcome once with `CircuitBreaker.record`. */
export interface Admission extends CircuitTarget {
  /** This call is the single probe of a half-open circuit. */
  readonly probe: boolean;
  /** Which probe (a later one replaces a lost one): only the current probe's end frees the slot. */
  readonly probeNumber?: number;
}

/** A state change, for the audit log. */
export interface CircuitTransition {
  provider: string;
  endpoint?: string;
  from: CircuitState;
  to: CircuitState;
  consecutiveFailures: number;
}

interface Circuit {
  state: CircuitState;
  consecutiveFailures: number;
  openedAt: number;
  probeInFlight: boolean;
  probeAdmittedAt: number;
  probeNumber: number;
}

/**
 * One circuit per provider (and endpoint, when a client names its own). Closed: every call passes; `failureThreshold` consecutive provider
 * faults open it. Open: calls are refused with CircuitOpenError (before any hold) until
 * `resetTimeoutMs` has passed. Half-open: exactly one probe passes; its success closes the
 * circuit, its fault opens it again, a neutral end (the caller's own 4xx, an abort) frees the
 * probe slot, and a probe silent for `probeTimeoutMs` is given up. Caller errors never count as
 * provider faults.
 */
export class CircuitBreaker {
  readonly #options: CircuitOptions;
  readonly #now: () => number;
  readonly #onTransition: (transition: CircuitTransition) => void;
  readonly #circuits = new Map<string, Circuit>();

  constructor(
    options: CircuitOptions,
    onTransition: (transition: CircuitTransition) => void = () => {},
    now: () => number = Date.now,
  ) {
    this.#options = options;
    this.#onTransition = onTransition;
    this.#now = now;
  }

  state(target: string | CircuitTarget): CircuitState {
    return this.#circuit(targetOf(target)).state;
  }

  /** Lets a call through or throws CircuitOpenError. `onTransition` hears a state change this causes. */
  admit(to: string | CircuitTarget, onTransition = this.#onTransition): Admission {
    const target = targetOf(to);
    const { provider, endpoint } = target;
    const circuit = this.#circuit(target);
    if (circuit.state === "open") {
      const waited = this.#now() - circuit.openedAt;
      if (waited < this.#options.resetTimeoutMs) {
        throw new CircuitOpenError(
          provider,
          this.#options.resetTimeoutMs - waited,
          `${circuit.consecutiveFailures} calls in a row failed at the provider`,
          endpoint,
        );
      }
      this.#move(target, circuit, "half_open", onTransition);
    }
    if (circuit.state === "half_open") {
      const now = this.#now();
      const probeTimeoutMs = this.#options.probeTimeoutMs ?? Number.POSITIVE_INFINITY;
      const probing = now - circuit.probeAdmittedAt;
      if (circuit.probeInFlight && probing < probeTimeoutMs) {
        throw new CircuitOpenError(
          provider,
          Number.isFinite(probeTimeoutMs) ? probeTimeoutMs - probing : this.#options.resetTimeoutMs,
          "a probe call is testing whether the provider has recovered",
          endpoint,
        );
      }
      // No probe, or one lost for longer than its hold lasts: this call is the probe.
      circuit.probeInFlight = true;
      circuit.probeAdmittedAt = now;
      circuit.probeNumber += 1;
      return { ...target, probe: true, probeNumber: circuit.probeNumber };
    }
    return { ...target, probe: false };
  }

  /** Reports how an admitted call ended. `onTransition` hears a state change this causes. */
  record(admission: Admission, outcome: CallOutcome, onTransition = this.#onTransition): void {
    const circuit = this.#circuit(admission);
    if (admission.probe && admission.probeNumber !== circuit.probeNumber) return; // a lost probe's late end
    if (admission.probe) circuit.probeInFlight = false;
    if (outcome === "neutral") return;
    if (outcome === "success") {
      circuit.consecutiveFailures = 0;
      if (circuit.state !== "closed") this.#move(admission, circuit, "closed", onTransition);
      return;
    }
    circuit.consecutiveFailures += 1;
    const reopen = circuit.state === "half_open" && admission.probe;
    if (
      reopen ||
      (circuit.state === "closed" && circuit.consecutiveFailures >= this.#options.failureThreshold)
    ) {
      circuit.openedAt = this.#now();
      this.#move(admission, circuit, "open", onTransition);
    }
  }

  #circuit(target: CircuitTarget): Circuit {
    const key = target.endpoint === undefined ? target.provider : `${target.provider} ${target.endpoint}`;
    let circuit = this.#circuits.get(key);
    if (circuit === undefined) {
      circuit = {
        state: "closed",
        consecutiveFailures: 0,
        openedAt: 0,
        probeInFlight: false,
        probeAdmittedAt: 0,
        probeNumber: 0,
      };
      this.#circuits.set(key, circuit);
    }
    return circuit;
  }

  #move(
    { provider, endpoint }: CircuitTarget,
    circuit: Circuit,
    to: CircuitState,
    onTransition: (transition: CircuitTransition) => void,
  ): void {
    const from = circuit.state;
    circuit.state = to;
    const { consecutiveFailures } = circuit;
    onTransition({
      provider,
      ...(endpoint === undefined ? {} : { endpoint }),
      from,
      to,
      consecutiveFailures,
    });
  }
}

/** Just the provider and endpoint (a caller may pass a whole request). */
function targetOf(target: string | CircuitTarget): CircuitTarget {
  if (typeof target === "string") return { provider: target };
  return target.endpoint === undefined
    ? { provider: target.provider }
    : { provider: target.provider, endpoint: target.endpoint };
}

const breakersByVault = new Map<string, CircuitBreaker>();

/**
 * The breaker of a vault, shared by every client on it in this process, so one client's failures
 * protect the others. The first client's options win until the process ends.
 */
export function vaultBreaker(vaultRoot: string, options: CircuitOptions): CircuitBreaker {
  let breaker = breakersByVault.get(vaultRoot);
  if (breaker === undefined) {
    breaker = new CircuitBreaker(options);
    breakersByVault.set(vaultRoot, breaker);
  }
  return breaker;
}

/**
 * Whether a provider call's error says the provider is unhealthy: server errors, 429, timeouts
 * and connection failures are; the caller's own 4xx (a bad request, a wrong key) and the
 * caller's abort are not.
 */
export function outcomeOfError(error: unknown): CallOutcome {
  if (typeof error !== "object" || error === null) return "provider_fault";
  const name = (error as { name?: unknown }).name;
  if (name === "AbortError" || name === "APIUserAbortError") return "neutral";
  // openai/anthropic/google SDKs: `status`; the AI SDK's APICallError: `statusCode`.
  const fields = error as { status?: unknown; statusCode?: unknown; code?: unknown };
  const status = fields.status ?? fields.statusCode ?? fields.code;
  if (typeof status === "number" && status >= 400 && status < 500 && status !== 429 && status !== 408) {
    return "neutral";
  }
  return "provider_fault";
}
