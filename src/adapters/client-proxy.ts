/**
 * Wraps a client so that a few dotted paths (e.g. "chat.completions.create") resolve to our
 * functions while every other property reads straight from the real object. Methods are bound
 * to the real object, since SDK classes use private fields a Proxy receiver cannot reach.
 */
export function overridePaths<T extends object>(target: T, overrides: ReadonlyMap<string, unknown>): T {
  return proxyAt(target, "", overrides);
}

function proxyAt<T extends object>(target: T, prefix: string, overrides: ReadonlyMap<string, unknown>): T {
  const nested = new Map<PropertyKey, unknown>();
  const bound = new Map<PropertyKey, unknown>();
  return new Proxy(target, {
    get(object, property) {
      const path = typeof property === "string" ? `${prefix}${property}` : undefined;
      if (path !== undefined && overrides.has(path)) return overrides.get(path);
      const value: unknown = Reflect.get(object, property, object);
      if (path !== undefined && isObject(value) && hasOverrideUnder(overrides, `${path}.`)) {
        let child = nested.get(property);
        if (child === undefined) {
          child = proxyAt(value, `${path}.`, overrides);
          nested.set(property, child);
        }
        return child;
      }
      // `constructor` stays the SDK's class itself (not a bound copy), as code comparing classes expects.
      if (typeof value === "function" && property !== "constructor") {
        let fn = bound.get(property);
        if (fn === undefined) {
          fn = Object.assign(value.bind(object), value);
          bound.set(property, fn);
        }
        return fn;
      }
      return value;
    },
    has(object, property) {
      return (
        (typeof property === "string" && overrides.has(`${prefix}${property}`)) ||
        Reflect.has(object, property)
      );
    },
  });
}

function hasOverrideUnder(overrides: ReadonlyMap<string, unknown>, prefix: string): boolean {
  for (const key of overrides.keys()) if (key.startsWith(prefix)) return true;
  return false;
}

function isObject(value: unknown): value is object {
  return typeof value === "object" && value !== null;
}
