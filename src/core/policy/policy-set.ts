import { type BigIntStats, statSync } from "node:fs";
import { listPolicyFiles, loadPolicies, type PolicySource } from "./policy-file.ts";
import { PolicyLoadError } from "./policy-load-error.ts";
import type { PolicyRule } from "./policy-rule.ts";

/** How often rules() looks at the files at most; between looks it returns the rules it has. */
export const POLICY_RECHECK_MS = 100;

/**
 * Policy rules that follow their files: rules() notices an edit (by size, mtime and inode, not
 * content) and reloads. An edit that breaks a file is reported once through `onReloadError` and
 * the last good rules stay in force, so a typo never switches governance off.
 *
 * The constructor loads synchronously and throws PolicyLoadError when the files are broken
 * already: a process should not start with rules it cannot read. Sources marked `optional` may be
 * missing until they first exist (a vault created without its default file); any other missing
 * source is a problem. Once a source has existed, its disappearing is a broken edit like any other:
 * the last good rules stay and it is reported, since an editor that saves by moving the old file
 * aside leaves it missing for a moment, and a deleted file must not switch its rules off unsaid.
 */
export class PolicySet {
  /** The sources as given, less the `optional` mark of each one that has existed since. */
  readonly #sources: PolicySource[];
  readonly #onReloadError: (error: PolicyLoadError) => void;
  readonly #recheckMs: number;
  readonly #clock: () => number;
  #rules: PolicyRule[];
  #loadedSignature: string;
  #reportedSignature: string | undefined;
  #checkedAtMs: number;

  constructor(
    sources: readonly PolicySource[],
    onReloadError: (error: PolicyLoadError) => void,
    options: { recheckMs?: number; clock?: () => number } = {},
  ) {
    this.#sources = [...sources];
    this.#onReloadError = onReloadError;
    this.#recheckMs = options.recheckMs ?? POLICY_RECHECK_MS;
    this.#clock = options.clock ?? Date.now;
    this.#loadedSignature = this.#look();
    // As given: this first load is the one an optional source may be missing at.
    this.#rules = loadPolicies(sources);
    this.#checkedAtMs = this.#clock();
  }

  /** The current rules; the same array object until a reload replaces it. */
  rules(): PolicyRule[] {
    const nowMs = this.#clock();
    if (nowMs - this.#checkedAtMs < this.#recheckMs) return this.#rules;
    this.#checkedAtMs = nowMs;
    const signature = this.#look();
    if (signature === this.#loadedSignature || signature === this.#reportedSignature) return this.#rules;
    try {
      this.#rules = loadPolicies(this.#sources);
      this.#loadedSignature = signature;
      this.#reportedSignature = undefined;
    } catch (error) {
      if (!(error instanceof PolicyLoadError)) throw error;
      this.#reportedSignature = signature;
      this.#onReloadError(error);
    }
    return this.#rules;
  }

  /**
   * What the files look like on disk, cheaply: one stat per file source (its identity, size and
   * mtime), plus a listing and one stat per file for a folder source. Taken before a load, so an
   * edit racing with the load shows up as a change at the next look. An optional source seen here
   * is required from now on, for this load too: were it gone by the time it is read, that is
   * reported rather than taken for "no rules".
   */
  #look(): string {
    let signature = "";
    this.#sources.forEach((source, index) => {
      const path = typeof source === "string" ? source : source.path;
      const stats = statOrUndefined(path);
      if (stats === undefined) {
        signature += `|${path}!`;
        return;
      }
      if (source !== path) this.#sources[index] = path;
      signature += stats.isDirectory() ? folderSignature(path) : fileSignature(path, stats);
    });
    return signature;
  }
}

/** A missing or unreadable path is a state of its own in the signature, not an error here. */
function statOrUndefined(path: string): BigIntStats | undefined {
  try {
    return statSync(path, { bigint: true, throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}

function fileSignature(path: string, stats: BigIntStats): string {
  return `|${path}:${stats.ino}:${stats.size}:${stats.mtimeNs}`;
}

/** The folder's policy files as listPolicyFiles finds them, each with its stat. */
function folderSignature(folder: string): string {
  const { files, problems } = listPolicyFiles([folder]);
  let signature = problems.map((problem) => `|${problem.file}!`).join("");
  for (const file of files) {
    const stats = statOrUndefined(file);
    signature += stats === undefined ? `|${file}!` : fileSignature(file, stats);
  }
  return signature;
}
