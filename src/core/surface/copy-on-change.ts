// Copies that share what they do not change: a request with nothing to redact is sent as the
// caller's own objects, and class instances (an AbortSignal, bytes) are never rebuilt.

/** A plain object (of any realm: an `Object.prototype` has no prototype of its own), not a class instance. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === null || Object.getPrototypeOf(prototype) === null;
}

/** `items` with each item as `copyItem` returns it: a new array only when one changed. */
export function copyArray(
  items: readonly unknown[],
  copyItem: (item: unknown, index: number) => unknown,
): unknown[] {
  let out: unknown[] | undefined;
  for (let index = 0; index < items.length; index++) {
    const item = items[index];
    const copied = copyItem(item, index);
    if (out === undefined) {
      if (copied === item) continue;
      out = items.slice(0, index);
    }
    out.push(copied);
  }
  return out ?? (items as unknown[]);
}

/**
 * `record` with each member (and key) as `copyMember` (`copyKey`) returns it: a new object only
 * when one changed. Members are defined, not assigned, so a `__proto__` key stays a key.
 */
export function copyRecord(
  record: Record<string, unknown>,
  copyMember: (member: unknown, key: string) => unknown,
  copyKey: (key: string) => string = (key) => key,
): Record<string, unknown> {
  const keys = Object.keys(record);
  let out: Record<string, unknown> | undefined;
  for (let index = 0; index < keys.length; index++) {
    const key = keys[index] as string;
    const member = record[key];
    const copiedKey = copyKey(key);
    const copied = copyMember(member, key);
    if (out === undefined) {
      if (copiedKey === key && copied === member) continue;
      out = {};
      for (const earlierKey of keys.slice(0, index)) defineMember(out, earlierKey, record[earlierKey]);
    }
    defineMember(out, copiedKey, copied);
  }
  return out ?? record;
}

function defineMember(record: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(record, key, { value, writable: true, enumerable: true, configurable: true });
}
