import { describe, expect, it } from "vitest";
import { toolNamesOf } from "../../../src/core/surface/request-fields.ts";

/** README "Policies": `tools` holds "the tool names offered to the model", whatever the provider. */
describe("toolNamesOf", () => {
  it("names functions and built-in tools of OpenAI, Anthropic and the AI SDK as before", () => {
    expect(
      toolNamesOf([
        { type: "function", function: { name: "lookup", parameters: {} } },
        { type: "web_search" },
        { type: "mcp", server_label: "docs" },
        { name: "get_weather", input_schema: { type: "object" } },
        { type: "web_search_20250305", name: "web_search", max_uses: 3 },
        { type: "provider", id: "google.google_search", name: "google_search", args: {} },
      ]),
    ).toEqual(["lookup", "web_search", "mcp", "get_weather", "web_search", "google_search"]);
  });

  it("names Gemini's built-in tools by their key, and its functions by name", () => {
    expect(
      toolNamesOf([
        { googleSearch: {} },
        { codeExecution: {} },
        { urlContext: {} },
        { googleSearchRetrieval: { dynamicRetrievalConfig: {} } },
        { fileSearch: { fileSearchStoreNames: ["x"] } },
        { functionDeclarations: [{ name: "lookup" }, { name: "book" }], googleMaps: {} },
      ]),
    ).toEqual([
      "googleSearch",
      "codeExecution",
      "urlContext",
      "googleSearchRetrieval",
      "fileSearch",
      "lookup",
      "book",
      "googleMaps",
    ]);
  });

  it("reads the REST API's snake_case keys as the SDK's camelCase, and skips keys left unset", () => {
    expect(toolNamesOf([{ google_search: {}, code_execution: undefined, url_context: null }])).toEqual([
      "googleSearch",
    ]);
  });
});
