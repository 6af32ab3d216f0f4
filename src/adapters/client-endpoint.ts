/**
 * The provider's own API, per SDK: a client pointed elsewhere (an Azure deployment, a gateway, a
 * self-hosted server) names an endpoint, and gets a circuit of its own (GovernedRequest.endpoint).
 */
const DEFAULT_ORIGINS: Readonly<Record<string, readonly string[]>> = {
  openai: ["https://api.openai.com"],
  anthropic: ["https://api.anthropic.com"],
  google: ["https://generativelanguage.googleapis.com"],
};

/** The origin a client sends to, when it is not its provider's default API; otherwise undefined. */
export function clientEndpoint(kind: string, client: object): string | undefined {
  const origin = originOf(baseUrlOf(client));
  if (origin === undefined || DEFAULT_ORIGINS[kind]?.includes(origin) === true) return undefined;
  return origin;
}

/** openai and @anthropic-ai/sdk: `baseURL`; @google/genai: its API client's `getBaseUrl()`. */
function baseUrlOf(client: object): unknown {
  const { baseURL, models } = client as { baseURL?: unknown; models?: { apiClient?: unknown } };
  if (typeof baseURL === "string") return baseURL;
  const apiClient = models?.apiClient as { getBaseUrl?: () => unknown } | undefined;
  return typeof apiClient?.getBaseUrl === "function" ? apiClient.getBaseUrl() : undefined;
}

function originOf(url: unknown): string | undefined {
  if (typeof url !== "string") return undefined;
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}
