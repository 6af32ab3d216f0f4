import { describe, expect, it } from "vitest";
import {
  anthropicWebSearchesMax,
  openAIWebSearchesMax,
  WEB_SEARCHES_HELD_UNCAPPED,
} from "../../../src/core/surface/web-search-tools.ts";

describe("anthropicWebSearchesMax", () => {
  it("is undefined when no web search tool is offered", () => {
    expect(anthropicWebSearchesMax(undefined)).toBeUndefined();
    expect(anthropicWebSearchesMax([{ name: "get_weather", input_schema: {} }])).toBeUndefined();
    expect(anthropicWebSearchesMax([{ type: "web_fetch_20250910", name: "web_fetch" }])).toBeUndefined();
  });

  it("is the tool's max_uses, summed over search tools", () => {
    expect(anthropicWebSearchesMax([{ type: "web_search_20250305", name: "web_search", max_uses: 3 }])).toBe(
      3,
    );
    expect(
      anthropicWebSearchesMax([
        { type: "web_search_20250305", name: "web_search", max_uses: 3 },
        { type: "web_search_20260209", name: "web_search_2", max_uses: 2 },
      ]),
    ).toBe(5);
  });

  it("assumes WEB_SEARCHES_HELD_UNCAPPED for a tool without max_uses", () => {
    expect(anthropicWebSearchesMax([{ type: "web_search_20250305", name: "web_search" }])).toBe(
      WEB_SEARCHES_HELD_UNCAPPED,
    );
    expect(WEB_SEARCHES_HELD_UNCAPPED).toBe(10);
  });
});

describe("openAIWebSearchesMax", () => {
  it("is undefined when no web search tool is offered", () => {
    expect(openAIWebSearchesMax([{ type: "function", name: "f" }], 3)).toBeUndefined();
  });

  it("is max_tool_calls for any web search tool, else WEB_SEARCHES_HELD_UNCAPPED", () => {
    for (const type of ["web_search", "web_search_preview", "web_search_2025_08_26"]) {
      expect(openAIWebSearchesMax([{ type }], 4)).toBe(4);
      expect(openAIWebSearchesMax([{ type }], undefined)).toBe(WEB_SEARCHES_HELD_UNCAPPED);
    }
  });
});
