import { UsertrustError } from "../../core/errors.ts";
import type { GovernedRequest } from "../../core/governed-request.ts";
import { makeUsage } from "../../core/usage.ts";
import type { CallTranslation } from "../governed-call.ts";

interface EmbeddingsBody {
  model?: unknown;
  input?: unknown;
  user?: unknown;
}

/** embeddings.create: all input, no output. Token-id inputs are held by their JSON text, which errs high. */
export const embeddingsTranslation: CallTranslation = {
  toGoverned(body) {
    const params = (body ?? {}) as EmbeddingsBody;
    if (typeof params.model !== "string" || params.model === "" || params.input === undefined) {
      throw new UsertrustError("INVALID_REQUEST", "embeddings.create needs a `model` string and an `input`.");
    }
    const inputs = Array.isArray(params.input) ? params.input : [params.input];
    const promptParts = inputs.map((item) => (typeof item === "string" ? item : JSON.stringify(item)));
    const request: GovernedRequest = {
      provider: "openai",
      model: params.model,
      promptParts,
      maxOutputTokens: 0,
    };
    if (typeof params.user === "string" && params.user !== "") request.actor = params.user;
    return request;
  },
  isStream: () => false,
  streamRequest: () => {
    throw new UsertrustError("INVALID_REQUEST", "embeddings.create does not stream.");
  },
  usageOf(response) {
    const promptTokens = (response as { usage?: { prompt_tokens?: unknown } | null }).usage?.prompt_tokens;
    return typeof promptTokens === "number" ? makeUsage({ inputTokens: promptTokens }) : undefined;
  },
  outputBytesOf: () => 0,
};
