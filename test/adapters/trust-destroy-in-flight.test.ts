import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { trust } from "../../src/adapters/trust.ts";
import { ClientDestroyedError } from "../../src/core/errors.ts";
import type { TrustReceipt } from "../../src/core/receipt.ts";
import { startAnthropicStandIn } from "../support/anthropic-stand-in.ts";
import {
  type AnyClient,
  BUDGET_UT,
  CALLS,
  cleanups,
  ledgerAfter,
  outcomeOf,
  server,
  settleTurns,
  trusted,
  unhandled,
  useHeldOpenServer,
} from "../support/destroy-in-flight.ts";
import { startOpenAIStandIn } from "../support/openai-stand-in.ts";
import { makeTempVault } from "../support/temp-vault.ts";

/**
 * README "Failures": destroy() aborts the request of every call still in flight — a non-streaming
 * call the provider has not answered yet, a stream whose create() was never awaited — so the
 * provider stops generating and the socket closes. The request left the process, so the provider
 * may bill the prompt it read: the hold settles at the prompt estimate (`usageSource:
 * "estimated"`), not voided; a whole response that had arrived unread was generated in full and
 * settles at its whole hold. The caller's promise rejects with ClientDestroyedError; a promise
 * nobody awaits never becomes an unhandled rejection. A call still being authorized is never sent.
 */
useHeldOpenServer();

describe("destroy() with a non-streaming call in flight", () => {
  for (const [name, { sdk, start }] of Object.entries(CALLS)) {
    for (const shape of ["spec", "native"] as const) {
      it(`${name} (${shape}): aborts the request, rejects with ClientDestroyedError, settles at the prompt estimate`, async () => {
        const { client, vault, receipts } = await trusted(sdk, shape);
        const before = server.requests.length;
        const outcome = outcomeOf(start(client, false));
        await server.arrived(before + 1);
        await client.destroy();
        await server.closedByClient(before + 1);
        expect(await outcome).toBeInstanceOf(ClientDestroyedError);
        // Not retried: the abort is destroy()'s, not a failure the SDK tries again.
        expect(server.requests.length).toBe(before + 1);
        const [receipt] = receipts;
        expect(receipts).toHaveLength(1);
        expect(receipt).toMatchObject({ settled: true, usageSource: "estimated" });
        expect(receipt?.usage.outputTokens).toBe(0);
        expect(receipt?.usage.inputTokens).toBeGreaterThan(0);
        expect(receipt?.cost).toBeGreaterThan(0);
        const after = await ledgerAfter(vault, receipt?.transferId ?? "");
        expect(after).toMatchObject({ pendingUsertokens: 0, postedUsertokens: receipt?.cost, chainOk: true });
        expect(after.lastEvent).toMatchObject({ kind: "spend", data: { usageSource: "estimated" } });
        await settleTurns();
        expect(unhandled).toEqual([]);
      });
    }
  }
});

describe("destroy() with a stream whose create() was never awaited", () => {
  for (const [name, { sdk, start }] of Object.entries(CALLS)) {
    for (const mode of ["silent", "headers"] as const) {
      const when = mode === "silent" ? "before its response began" : "after its response began";
      it(`${name}, native, ${when}: aborts the request; awaiting it afterwards rejects with ClientDestroyedError`, async () => {
        server.setMode(mode);
        const { client, vault, receipts } = await trusted(sdk, "native");
        const before = server.requests.length;
        const pending = start(client, true);
        await server.arrived(before + 1);
        await client.destroy();
        await server.closedByClient(before + 1);
        await settleTurns();
        expect(await outcomeOf(pending)).toBeInstanceOf(ClientDestroyedError);
        expect(receipts).toHaveLength(1);
        expect(receipts[0]).toMatchObject({ settled: true, usageSource: "estimated" });
        const after = await ledgerAfter(vault, receipts[0]?.transferId ?? "");
        expect(after).toMatchObject({ pendingUsertokens: 0, chainOk: true });
        expect(unhandled).toEqual([]);
      });
    }

    it(`${name}, spec, never awaited at all: aborts the request and leaves no unhandled rejection`, async () => {
      const { client, vault, receipts } = await trusted(sdk, "spec");
      const before = server.requests.length;
      start(client, true);
      await server.arrived(before + 1);
      await client.destroy();
      await server.closedByClient(before + 1);
      await settleTurns();
      expect(unhandled).toEqual([]);
      expect(receipts).toHaveLength(1);
      expect(receipts[0]).toMatchObject({ settled: true, usageSource: "estimated" });
      expect(await ledgerAfter(vault, receipts[0]?.transferId ?? "")).toMatchObject({
        pendingUsertokens: 0,
        chainOk: true,
      });
    });
  }
});

describe("destroy() called while a call is still being authorized", () => {
  for (const [name, { sdk, start }] of Object.entries(CALLS)) {
    it(`${name}: the request is never sent, the hold is voided, the call rejects with ClientDestroyedError`, async () => {
      const { client, vault, receipts } = await trusted(sdk, "native");
      const before = server.requests.length;
      const outcome = outcomeOf(start(client, false));
      await client.destroy();
      expect(await outcome).toBeInstanceOf(ClientDestroyedError);
      await settleTurns();
      expect(server.requests.length).toBe(before);
      expect(unhandled).toEqual([]);
      // Refused before its hold was placed, or its hold voided: either way nothing is spent.
      for (const receipt of receipts) expect(receipt).toMatchObject({ settled: false, cost: 0 });
      expect(await ledgerAfter(vault, receipts[0]?.transferId ?? "")).toMatchObject({
        pendingUsertokens: 0,
        postedUsertokens: 0,
        chainOk: true,
      });
    });
  }
});

describe("destroy() with a whole response that arrived but was never awaited", () => {
  /** The SDK's own `fetch` option, telling when a response (its head) has arrived. */
  function arrivalFetch() {
    let arrived!: () => void;
    const responded = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    const fetchAndTell = async (input: Parameters<typeof fetch>[0], init?: RequestInit) => {
      const response = await fetch(input, init);
      arrived();
      return response;
    };
    return { fetch: fetchAndTell as typeof fetch, responded };
  }

  const sdks = {
    OpenAI: {
      start: () => startOpenAIStandIn(),
      client: (url: string, fetchOption: typeof fetch) =>
        new OpenAI({ apiKey: "t", baseURL: `${url}/v1`, fetch: fetchOption }),
      call: (client: AnyClient) => CALLS["OpenAI chat.completions.create"].start(client, false),
    },
    Anthropic: {
      start: () => startAnthropicStandIn(),
      client: (url: string, fetchOption: typeof fetch) =>
        new Anthropic({ apiKey: "t", baseURL: url, fetch: fetchOption }),
      call: (client: AnyClient) => CALLS["Anthropic messages.create"].start(client, false),
    },
  };

  for (const [name, sdk] of Object.entries(sdks)) {
    it(`${name}, native: settles at the whole hold (generated in full, usage unread) and awaiting it rejects`, async () => {
      const standIn = await sdk.start();
      cleanups.push(() => standIn.close());
      const vault = makeTempVault({ budget: BUDGET_UT });
      cleanups.push(vault.cleanup);
      const receipts: TrustReceipt[] = [];
      const { fetch: fetchOption, responded } = arrivalFetch();
      const client: AnyClient = await trust(sdk.client(standIn.url, fetchOption), {
        vaultBase: vault.base,
        shape: "native",
        onReceipt: (receipt) => receipts.push(receipt),
      });
      cleanups.push(() => client.destroy());
      const pending = sdk.call(client);
      await responded;
      // The SDK hands the response on within a few turns (no I/O between).
      await settleTurns();
      await client.destroy();
      expect(await outcomeOf(pending)).toBeInstanceOf(ClientDestroyedError);
      const after = await ledgerAfter(vault, receipts[0]?.transferId ?? "");
      expect(receipts[0]).toMatchObject({ settled: true, usageSource: "estimated" });
      expect(receipts[0]?.cost).toBe(after.lastEvent?.data.holdUsertokens);
      expect(after).toMatchObject({ pendingUsertokens: 0, chainOk: true, lastEvent: { kind: "spend" } });
      await settleTurns();
      expect(unhandled).toEqual([]);
    });
  }
});
