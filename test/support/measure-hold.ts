import { createEngine } from "../../src/core/create-engine.ts";
import type { GovernedRequest } from "../../src/core/governed-request.ts";
import { makeTempVault } from "./temp-vault.ts";

export interface HoldSize {
  holdUsertokens: number;
  inputTokensEstimate: number;
}

/** The hold `request` takes, read from a real authorize in a scratch vault, so a test never re-derives pricing. */
export async function measureHold(request: GovernedRequest): Promise<HoldSize> {
  const scratch = makeTempVault({ budget: 10_000_000 });
  try {
    const engine = await createEngine({ vaultBase: scratch.base });
    try {
      const sized = await engine.authorize(request);
      await sized.void("sizing only", "hold_voided");
      return {
        holdUsertokens: sized.terms.holdUsertokens,
        inputTokensEstimate: sized.terms.inputTokensEstimate,
      };
    } finally {
      await engine.close();
    }
  } finally {
    scratch.cleanup();
  }
}
