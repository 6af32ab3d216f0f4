import { UsertrustError } from "../core/errors.ts";

/** The request object of an SDK method and its model id, or a typed error naming the method. */
export function requestWithModel<Body extends { model?: unknown }>(
  body: unknown,
  method: string,
  promptField: string,
): Body & { model: string } {
  if (typeof body !== "object" || body === null) {
    throw new UsertrustError(
      "INVALID_REQUEST",
      `${method} needs a request object with \`model\` and \`${promptField}\`.`,
    );
  }
  const request = body as Body;
  if (typeof request.model !== "string" || request.model === "") {
    throw new UsertrustError("INVALID_REQUEST", `${method} needs a \`model\` string to price the call.`);
  }
  return request as Body & { model: string };
}

/** A token cap or choice count as the SDKs take it: a positive safe integer, else absent. */
export function positiveInteger(value: unknown): number | undefined {
  return typeof value === "number" && Number.isSafeInteger(value) && value > 0 ? value : undefined;
}

/** A non-empty string, else absent (for actor ids). */
export function nonEmptyString(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}
