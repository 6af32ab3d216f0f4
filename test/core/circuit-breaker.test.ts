import { describe, expect, it } from "vitest";
import { CircuitBreaker, type CircuitTransition, outcomeOfError } from "../../src/core/circuit-breaker.ts";
import { CircuitOpenError } from "../../src/core/errors.ts";

function breaker(failureThreshold = 3, resetTimeoutMs = 1_000, probeTimeoutMs?: number) {
  let now = 0;
  const transitions: CircuitTransition[] = [];
  const circuit = new CircuitBreaker(
    { failureThreshold, resetTimeoutMs, ...(probeTimeoutMs === undefined ? {} : { probeTimeoutMs }) },
    (transition) => transitions.push(transition),
    () => now,
  );
  return {
    circuit,
    transitions,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

function fail(circuit: CircuitBreaker, times: number, provider = "openai"): void {
  for (let i = 0; i < times; i++) circuit.record(circuit.admit(provider), "provider_fault");
}

describe("circuit breaker", () => {
  it("opens after failureThreshold consecutive provider faults and refuses calls until resetTimeout", () => {
    const { circuit, advance, transitions } = breaker(3, 1_000);
    fail(circuit, 2);
    expect(circuit.state("openai")).toBe("closed");
    fail(circuit, 1);
    expect(circuit.state("openai")).toBe("open");
    expect(() => circuit.admit("openai")).toThrow(CircuitOpenError);
    advance(999);
    expect(() => circuit.admit("openai")).toThrow(/1 s/);
    expect(transitions).toEqual([{ provider: "openai", from: "closed", to: "open", consecutiveFailures: 3 }]);
  });

  it("keeps providers apart", () => {
    const { circuit } = breaker(1);
    fail(circuit, 1, "openai");
    expect(() => circuit.admit("openai")).toThrow(CircuitOpenError);
    expect(circuit.admit("anthropic").probe).toBe(false);
  });

  it("keeps endpoints of one provider apart, and names the endpoint in refusals and transitions", () => {
    const { circuit, transitions } = breaker(1);
    const azure = { provider: "openai", endpoint: "https://acme.openai.azure.com" };
    circuit.record(circuit.admit(azure), "provider_fault");
    expect(() => circuit.admit(azure)).toThrow(
      expect.objectContaining({ provider: "openai", endpoint: azure.endpoint }),
    );
    expect(circuit.admit("openai").probe).toBe(false);
    expect(transitions).toEqual([{ ...azure, from: "closed", to: "open", consecutiveFailures: 1 }]);
  });

  it("a success resets the count of consecutive faults", () => {
    const { circuit } = breaker(3);
    fail(circuit, 2);
    circuit.record(circuit.admit("openai"), "success");
    fail(circuit, 2);
    expect(circuit.state("openai")).toBe("closed");
  });

  it("half-open lets exactly one probe through; its success closes the circuit", () => {
    const { circuit, advance, transitions } = breaker(1, 100);
    fail(circuit, 1);
    advance(100);
    const probe = circuit.admit("openai");
    expect(probe.probe).toBe(true);
    expect(() => circuit.admit("openai")).toThrow(/probe/);
    circuit.record(probe, "success");
    expect(circuit.state("openai")).toBe("closed");
    expect(circuit.admit("openai").probe).toBe(false);
    expect(transitions.map((t) => t.to)).toEqual(["open", "half_open", "closed"]);
  });

  it("a failed probe opens the circuit again for a full resetTimeout", () => {
    const { circuit, advance } = breaker(1, 100);
    fail(circuit, 1);
    advance(100);
    circuit.record(circuit.admit("openai"), "provider_fault");
    expect(circuit.state("openai")).toBe("open");
    advance(99);
    expect(() => circuit.admit("openai")).toThrow(CircuitOpenError);
    advance(1);
    expect(circuit.admit("openai").probe).toBe(true);
  });

  it("a probe that ends neutrally (caller error, abort) frees the slot for another probe", () => {
    const { circuit, advance } = breaker(1, 100);
    fail(circuit, 1);
    advance(100);
    circuit.record(circuit.admit("openai"), "neutral");
    expect(circuit.state("openai")).toBe("half_open");
    expect(circuit.admit("openai").probe).toBe(true);
  });

  it("gives up a probe silent for probeTimeoutMs: the next call probes, and the lost probe's late end changes nothing", () => {
    const { circuit, advance } = breaker(1, 1_000, 5_000);
    fail(circuit, 1);
    advance(1_000);
    const lost = circuit.admit("openai");
    advance(4_000);
    expect(() => circuit.admit("openai")).toThrow(expect.objectContaining({ retryAfterMs: 1_000 }));
    advance(1_000);
    const next = circuit.admit("openai");
    expect(next.probe).toBe(true);
    circuit.record(lost, "neutral");
    expect(() => circuit.admit("openai"), "the new probe still holds the slot").toThrow(CircuitOpenError);
    circuit.record(next, "success");
    expect(circuit.state("openai")).toBe("closed");
  });

  it("does not count caller errors or aborts as provider faults", () => {
    expect(outcomeOfError({ status: 400 })).toBe("neutral");
    expect(outcomeOfError({ status: 401 })).toBe("neutral");
    expect(outcomeOfError({ status: 404 })).toBe("neutral");
    expect(outcomeOfError({ name: "AbortError" })).toBe("neutral");
    expect(outcomeOfError({ name: "APIUserAbortError" })).toBe("neutral");
    expect(outcomeOfError({ status: 429 })).toBe("provider_fault");
    expect(outcomeOfError({ status: 503 })).toBe("provider_fault");
    expect(outcomeOfError(new TypeError("fetch failed"))).toBe("provider_fault");
  });
});
