import { InvalidScopeError } from "./errors.ts";
import type { Modality } from "./usage.ts";

/**
 * A model call as the engine sees it, whatever SDK or framework it came from. Surfaces translate
 * their own request shapes into this; the engine never looks at provider objects.
 */
export interface GovernedRequest {
  /** "openai" | "anthropic" | "google" | …: selects the price table and the circuit. */
  provider: string;
  /**
   * Where the request goes when a client names its own base URL (an Azure deployment, a gateway, a
   * self-hosted server): its origin. Each endpoint of a provider has its own circuit, so one
   * service's outage does not pause calls to another.
   */
  endpoint?: string;
  model: string;
  /**
   * Every part of the prompt as text: system prompts, message contents, tool definitions, schemas.
   * The estimate and the audit's prompt hash are computed from these; they are never stored.
   */
  promptParts: readonly string[];
  /**
   * What the guards read, when the surface knows its request's shape; `promptParts` otherwise. The
   * PII guard scans `conversation` (the strings redaction would rewrite, one per field), the
   * injection guard also `definitions` (the strings of tool definitions and schemas).
   */
  guardTexts?: GuardTexts;
  /**
   * Input tokens for parts that are not text (images, documents, audio), sized by each provider's
   * documented rule in the adapter, since bytes / 3 says nothing about an image.
   */
  mediaTokens?: number;
  /**
   * The prompt may be written to the provider's cache (Anthropic `cache_control`), which is billed
   * above the input rate (5-minute writes 1.25×, 1-hour writes 2×): the hold prices the prompt so.
   */
  promptCacheWrite?: "5m" | "1h";
  /**
   * What the request lets the model produce besides text (OpenAI `modalities`, Gemini
   * `responseModalities`); [] for text only. When absent, whatever the model can produce: the hold
   * prices the output cap at the dearest output rate the model has among these and text.
   */
  outputModalities?: readonly Modality[];
  /**
   * The most searches the provider's own web search tool may run (Anthropic `max_uses`, OpenAI
   * `max_tool_calls`, or an assumed number when the request sets none): each is held at its fee.
   */
  webSearchesMax?: number;
  /** The most file-search calls the request allows (OpenAI `file_search` tool), held at their fee. */
  fileSearchesMax?: number;
  /**
   * The request asks to be billed at this percentage of the standard rates (Anthropic
   * `speed: "fast"`, `inference_geo: "us"`, OpenAI `service_tier: "priority"`); absent means 100. The hold prices every token at it.
   */
  tokenRatePercent?: number;
  /** The request's own cap on output tokens per choice; the config default applies when absent. */
  maxOutputTokens: number | undefined;
  /** How many completions the call asks for (OpenAI's `n`); each may use the whole output cap. */
  outputChoices?: number;
  /** Who is calling (an agent or user id), recorded on the audit event. */
  actor?: string;
  /** Where the call comes from, e.g. ["production/api"]: matched by policy scopePatterns and the board. */
  scope?: readonly string[];
  /** Caller metadata for policies (`metadata.*` fields); it can never overwrite an engine-owned field. */
  metadata?: Readonly<Record<string, unknown>>;
  /** Names of the tools the model is offered. */
  toolNames?: readonly string[];
  /** Messages (or contents) in the request. */
  messageCount?: number;
}

/**
 * A request's texts as the guards read them. `promptParts` may hold tool data as JSON (which hides
 * `"password":"…"` behind escaped quotes) and cannot be redacted; these are the decoded strings
 * that redaction rewrites, so warn, block and redact judge the same text.
 */
export interface GuardTexts {
  /** Conversation strings: message text, every tool-call argument and tool-result field. */
  conversation: readonly string[];
  /** Strings of tool definitions and output schemas: sent as written, read by the injection guard only. */
  definitions: readonly string[];
}

/** Scopes are plain paths: no empty, "." or ".." segment (see InvalidScopeError). */
export function assertPlainScopes(scopes: readonly string[] | undefined): void {
  for (const scope of scopes ?? []) {
    if (scope.split("/").some((segment) => segment === "" || segment === "." || segment === "..")) {
      throw new InvalidScopeError(scope);
    }
  }
}
