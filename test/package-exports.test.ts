import { describe, expect, expectTypeOf, it } from "vitest";
import type {
  AuditEvent,
  BoardDecision,
  ConcernType,
  DirectorVote,
  FieldCondition,
  FieldOperator,
  GovernedStream,
  LLMClientKind,
  PolicyEffect,
  PolicyEnforcement,
  PolicyRule,
  PolicySeverity,
  StreamUsage,
  TrustConfig,
  TrustedClient,
  TrustedResponse,
  TrustOpts,
  TrustReceipt,
} from "../src/index.ts";
import * as usertrust from "../src/index.ts";
import * as langchain from "../src/middleware/langchain/index.ts";

// The type imports above are the spec's list (usertrust-types.txt: "All types are exported from the
// usertrust package entry point"); `npm run typecheck` fails if one goes missing.
type SpecTypes = [
  TrustOpts,
  TrustedClient<object>,
  TrustedResponse<number>,
  TrustReceipt,
  LLMClientKind,
  TrustConfig,
  PolicyRule,
  FieldCondition,
  FieldOperator,
  PolicyEffect,
  PolicyEnforcement,
  PolicySeverity,
  AuditEvent,
  BoardDecision,
  ConcernType,
  DirectorVote,
  GovernedStream<number>,
  StreamUsage,
];

describe("the package's public names", () => {
  it("exports every type the spec lists, StreamUsage as { inputTokens, outputTokens }", () => {
    expectTypeOf<SpecTypes[17]>().toEqualTypeOf<{ inputTokens: number; outputTokens: number }>();
  });

  it("exports ToolDeniedError from usertrust and usertrust/langchain, so a refused tool can be caught by type", () => {
    expect(usertrust.ToolDeniedError).toBe(langchain.ToolDeniedError);
    const error: unknown = new usertrust.ToolDeniedError("delete_file", "policy no-deletes denied it");
    expect(error).toBeInstanceOf(usertrust.UsertrustError);
  });
});
