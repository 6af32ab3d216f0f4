/**
 * The longest prompt-cache lifetime any Anthropic `cache_control` marker asks for, or undefined
 * when nothing is cached. `nodes` are the parts of a request that may carry one: the request
 * itself (automatic caching), system blocks, tools, messages; each is searched with its nested
 * `content` blocks. A 5-minute write costs 1.25× input and a 1-hour write 2×, so a prompt that may
 * be written is held as written.
 */
export function anthropicCacheWriteOf(nodes: readonly unknown[]): "5m" | "1h" | undefined {
  let found: "5m" | "1h" | undefined;
  // Content nests only a few levels (tool results hold blocks); the bound stops hostile input.
  const visit = (node: unknown, depth: number): void => {
    if (found === "1h" || depth > NESTING_MAX || typeof node !== "object" || node === null) return;
    if (Array.isArray(node)) {
      for (const item of node) visit(item, depth + 1);
      return;
    }
    const { cache_control: control, content } = node as { cache_control?: unknown; content?: unknown };
    if (typeof control === "object" && control !== null) {
      found = (control as { ttl?: unknown }).ttl === "1h" ? "1h" : "5m";
    }
    visit(content, depth + 1);
  };
  visit(nodes, 0);
  return found;
}

const NESTING_MAX = 16;
