/** Exit codes: 0 all good, 1 a finding (broken chain, …), 2 bad usage or an error. */
export const EXIT_OK = 0;
export const EXIT_FINDING = 1;
export const EXIT_USAGE = 2;

/** Where a command writes: process.stdout / stderr, or a buffer in tests. */
export interface Output {
  write(text: string): unknown;
}
