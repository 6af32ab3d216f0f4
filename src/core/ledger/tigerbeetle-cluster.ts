import type { Account, Client, CreateTransferResult, Transfer } from "tigerbeetle-node";
import { ClientDestroyedError, LedgerUnavailableError, UsertrustError } from "../errors.ts";
import { ACCOUNT_CREATED, ACCOUNT_EXISTS, statusName } from "./tigerbeetle-wire.ts";

export interface ClusterOptions {
  addresses: readonly string[];
  clusterId: bigint;
  /** Named in errors about the ledger's own accounts. */
  walletId: string;
  ledger: number;
  /** Used instead of creating a client; its owner keeps it, so close() leaves it open. */
  client: Client | undefined;
  requestTimeoutMs: number;
}

/**
 * One ledger's link to a TigerBeetle cluster: the client's lifetime, every request bounded in time,
 * and errors that name the cluster and say what to check. Each method is one request, which on a
 * real cluster is one network round trip. `tigerbeetle-node` is loaded on the first request, and
 * only when no client is injected.
 */
export class TigerBeetleCluster {
  readonly #options: ClusterOptions;
  #connecting: Promise<Client> | undefined;
  #closed = false;

  constructor(options: ClusterOptions) {
    this.#options = options;
  }

  /** Throws ClientDestroyedError once closed, before any work is done. */
  assertOpen(): void {
    if (this.#closed) throw new ClientDestroyedError();
  }

  async createAccounts(accounts: Account[]): Promise<void> {
    const results = await this.#request("creation of accounts", (client) => client.createAccounts(accounts));
    for (const [index, result] of results.entries()) {
      if (result.status === ACCOUNT_CREATED || result.status === ACCOUNT_EXISTS) continue;
      throw new LedgerUnavailableError(
        `${this.#where()} refused to create usertrust's account ${accounts[index]?.id.toString(16)} ` +
          `(status ${result.status}): an account with that id exists with other settings, made by another ` +
          "program. Give usertrust a ledger number of its own (`ledger`) or another walletId.",
      );
    }
  }

  async createTransfers(events: Transfer[], what: string): Promise<CreateTransferResult[]> {
    const results = await this.#request(what, (client) => client.createTransfers(events));
    if (results.length !== events.length) {
      throw this.inconsistent(
        `the cluster answered ${results.length} results for ${events.length} transfers`,
      );
    }
    return results;
  }

  lookupAccounts(ids: bigint[]): Promise<Account[]> {
    return this.#request("lookup of accounts", (client) => client.lookupAccounts(ids));
  }

  async lookupTransfers(ids: bigint[]): Promise<Map<bigint, Transfer>> {
    const found = await this.#request("lookup of transfers", (client) => client.lookupTransfers(ids));
    return new Map(found.map((transfer) => [transfer.id, transfer]));
  }

  /** Destroys a client this link created; an injected one is left to its owner. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const connecting = this.#connecting;
    this.#connecting = undefined;
    const client = await connecting?.catch(() => undefined);
    client?.destroy();
  }

  unexpected(what: string, status: number): LedgerUnavailableError {
    return new LedgerUnavailableError(
      `${this.#where()} refused ${what} with ${statusName(status)}, which usertrust does not expect: ` +
        "its accounts may have been changed by another program. Give usertrust a ledger number of its own.",
    );
  }

  inconsistent(detail: string): LedgerUnavailableError {
    const { walletId, ledger } = this.#options;
    return new LedgerUnavailableError(
      `${this.#where()} holds an inconsistent usertrust ledger (wallet "${walletId}", ledger ${ledger}): ` +
        `${detail}. Were its transfers made by another program on the same ledger number?`,
    );
  }

  contended(what: string, holdId: string, rounds: number): LedgerUnavailableError {
    return new LedgerUnavailableError(
      `The ${what} of hold ${holdId} on ${this.#where()} met concurrent changes to the same budgets ` +
        `${rounds} times in a row; try the call again.`,
    );
  }

  /** One request, bounded: the client itself retries forever, so the bound is ours to keep. */
  async #request<T>(what: string, send: (client: Client) => Promise<T>): Promise<T> {
    const client = await this.#client();
    this.assertOpen();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(this.#noAnswer(what)), this.#options.requestTimeoutMs);
    });
    try {
      return await Promise.race([send(client), timedOut]);
    } catch (error) {
      throw this.#failed(error, what, client);
    } finally {
      clearTimeout(timer);
    }
  }

  #client(): Promise<Client> {
    if (this.#options.client !== undefined) return Promise.resolve(this.#options.client);
    this.#connecting ??= this.#connect().catch((error: unknown) => {
      this.#connecting = undefined;
      throw error;
    });
    return this.#connecting;
  }

  async #connect(): Promise<Client> {
    let createClient: typeof import("tigerbeetle-node").createClient;
    try {
      ({ createClient } = await import("tigerbeetle-node"));
    } catch (error) {
      throw new LedgerUnavailableError(
        "The TigerBeetle ledger needs the `tigerbeetle-node` package, which could not be loaded " +
          `(${reasonOf(error)}). Install it next to usertrust with \`npm install tigerbeetle-node\`.`,
        { cause: error },
      );
    }
    let client: Client;
    try {
      client = createClient({
        cluster_id: this.#options.clusterId,
        replica_addresses: [...this.#options.addresses],
      });
    } catch (error) {
      throw new LedgerUnavailableError(
        `Cannot start a TigerBeetle client for ${this.#where()}: ${reasonOf(error)}. ` +
          'Addresses are "port", "host" or "host:port", e.g. ["3000"] or ["10.0.0.1:3000"].',
        { cause: error },
      );
    }
    if (this.#closed) {
      client.destroy();
      throw new ClientDestroyedError();
    }
    return client;
  }

  #failed(error: unknown, what: string, client: Client): unknown {
    if (error instanceof UsertrustError || error instanceof RangeError) return error;
    if (this.#closed) return new ClientDestroyedError();
    const code = (error as { code?: unknown }).code;
    // An evicted or closed client never answers again: forget one we made, so the next call starts afresh.
    if ((code === "ERR_CLIENT_EVICTED" || code === "ERR_CLIENT_CLOSED") && client !== this.#options.client) {
      this.#connecting = undefined;
      client.destroy();
    }
    const hint =
      code === "ERR_CLIENT_RELEASE_TOO_LOW" || code === "ERR_CLIENT_RELEASE_TOO_HIGH"
        ? "This tigerbeetle-node release does not match the cluster's: install the version the cluster runs."
        : code === "ERR_CLIENT_EVICTED"
          ? "The cluster evicted this client (it has too many clients, or lost this one); the next call reconnects."
          : "Check that the cluster is running and reachable from this host.";
    return new LedgerUnavailableError(`${this.#where()} failed the ${what}: ${reasonOf(error)}. ${hint}`, {
      cause: error,
    });
  }

  #noAnswer(what: string): LedgerUnavailableError {
    return new LedgerUnavailableError(
      `${this.#where()} did not answer the ${what} within ${this.#options.requestTimeoutMs} ms, so the call is refused. ` +
        "Check that its replicas are running (`tigerbeetle start`) and reachable from this host, and that " +
        "`clusterId` is the one the cluster was formatted with; if the cluster is only slow, raise `requestTimeoutMs`.",
    );
  }

  #where(): string {
    return `The TigerBeetle cluster ${this.#options.clusterId} at ${this.#options.addresses.join(", ")}`;
  }
}

/** The error's own words, without a closing full stop, to sit inside a sentence of ours. */
function reasonOf(error: unknown): string {
  const reason = error instanceof Error ? error.message || error.constructor.name : String(error);
  return reason.replace(/\.$/, "");
}
