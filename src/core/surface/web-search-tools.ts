import { positiveInteger } from "./request-fields.ts";

/**
 * Searches a hold assumes for a web search tool the request does not cap (no Anthropic `max_uses`,
 * no OpenAI `max_tool_calls`). Neither provider documents a limit per request, so this is an
 * assumption, not a bound: a call that searches more is still charged every search at settle,
 * past its hold (the receipt then warns of a shortfall).
 */
export const WEB_SEARCHES_HELD_UNCAPPED = 10;

/**
 * The most searches Anthropic's web search tools (`web_search_…`) in `tools` may run: the sum of
 * their `max_uses`, with an uncapped tool counted as WEB_SEARCHES_HELD_UNCAPPED. Undefined when
 * no such tool is offered.
 */
export function anthropicWebSearchesMax(tools: unknown): number | undefined {
  if (!Array.isArray(tools)) return undefined;
  let searches: number | undefined;
  for (const tool of tools) {
    const { type, max_uses: maxUses } = (tool ?? {}) as { type?: unknown; max_uses?: unknown };
    if (typeof type !== "string" || !type.startsWith("web_search_")) continue;
    searches = (searches ?? 0) + (positiveInteger(maxUses) ?? WEB_SEARCHES_HELD_UNCAPPED);
  }
  return searches;
}

/**
 * The most searches the Responses API's web search tool (`web_search`, `web_search_preview`, dated
 * variants) may run: `max_tool_calls`, the cap on every built-in tool call of the response, else
 * WEB_SEARCHES_HELD_UNCAPPED. Undefined when no such tool is offered.
 */
export function openAIWebSearchesMax(tools: unknown, maxToolCalls: unknown): number | undefined {
  return openAIToolCallsMax(tools, "web_search", maxToolCalls);
}

/** As openAIWebSearchesMax, for the file search tool (`file_search`), billed per call too. */
export function openAIFileSearchesMax(tools: unknown, maxToolCalls: unknown): number | undefined {
  return openAIToolCallsMax(tools, "file_search", maxToolCalls);
}

function openAIToolCallsMax(tools: unknown, typePrefix: string, maxToolCalls: unknown): number | undefined {
  if (!Array.isArray(tools)) return undefined;
  const offered = tools.some((tool) => {
    const type = (tool as { type?: unknown } | null)?.type;
    return typeof type === "string" && type.startsWith(typePrefix);
  });
  if (!offered) return undefined;
  return positiveInteger(maxToolCalls) ?? WEB_SEARCHES_HELD_UNCAPPED;
}
