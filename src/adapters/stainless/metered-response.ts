import { Buffer } from "node:buffer";
import type { ChunkRestorer } from "../../core/surface/redaction.ts";
import {
  type CallContext,
  type CallTranslation,
  type OpenCall,
  type StreamMeter,
  settleResponse,
  settleStream,
} from "../governed-call.ts";

/** How a metered response reaches its request and its client. */
export interface ResponseControls {
  /** The client's destroy() hooks (CallContext.onDestroying), for as long as the hold is open. */
  onDestroying: CallContext["onDestroying"];
  /** Aborts the request, as the SDK's own reader of the body sees an abort (its `controller`). */
  abort?: () => void;
}

/**
 * A Response over the same bytes as the SDK's raw `response`, metered as they are read: a stream's
 * server-sent events go through the call's meter, a whole JSON body through the translation. Used
 * where an SDK helper parses the raw response itself (Anthropic's message threads do), so the call
 * still settles at its usage. The original body is only taken when this one is first read, so the
 * SDK's own parse can still read it when this one is not used.
 *
 * With pii restore, a stream's events are restored as `meterStream` restores chunks: each event's
 * data is parsed, metered as the provider sent it, restored, and sent on re-encoded; events wait
 * while a placeholder may be split across them.
 *
 * destroy() aborts the request of a streamed body whose hold is still open, as meterStream's
 * streams are closed: it settles at what was read, as a stream cut short (the read that ends
 * because of it is not a completion), which for one never read is the prompt estimate.
 */
export function meteredResponse(
  response: Response,
  call: OpenCall,
  translation: CallTranslation,
  controls: ResponseControls,
): Response {
  const source = response.body;
  if (source === null) return response;
  const meter = call.meter;
  if (meter === undefined) return meteredJson(response, source, call, translation);
  const events = new EventRelay(meter, call.chunkRestorer?.());
  // Set before the request is cut short, so the read that then ends is not taken for completion.
  let cut = false;
  let finished = false;
  const finish = async (completed: boolean): Promise<void> => {
    if (finished) return;
    finished = true;
    await settleStream(meter, call.hold, completed);
  };
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  const forget = controls.onDestroying(async () => {
    cut = true;
    // Aborting ends the request (the provider stops generating, the socket closes), and the SDK's
    // reader of this body ends as aborted; cancelling frees a body nobody reads yet.
    controls.abort?.();
    await (reader ?? source).cancel().catch(() => {});
    await finish(false);
  });
  call.hold.receipt.then(forget, forget);
  let failure: { error: unknown } | undefined;
  const body = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        if (failure !== undefined) {
          controller.error(failure.error);
          return;
        }
        reader ??= source.getReader();
        // With restore, a read may release nothing yet (its events wait): read on until one does.
        for (;;) {
          let step: Awaited<ReturnType<typeof reader.read>>;
          try {
            step = await reader.read();
          } catch (error) {
            await finish(false);
            // What was received before the failure still reaches the consumer, then the failure.
            const rest = events.end();
            if (rest.length === 0) controller.error(error);
            else {
              failure = { error };
              controller.enqueue(rest);
            }
            return;
          }
          if (step.done) {
            const rest = events.end();
            await finish(!cut);
            if (rest.length > 0) controller.enqueue(rest);
            controller.close();
            return;
          }
          const out = events.push(step.value);
          if (out !== undefined) {
            controller.enqueue(out);
            return;
          }
        }
      },
      async cancel(reason) {
        cut = true;
        await reader?.cancel(reason).catch(() => {});
        await finish(false);
      },
      // No read-ahead: pull only when the body is read, so an unread copy never locks the original.
    },
    { highWaterMark: 0 },
  );
  return new Response(body, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}

/** A whole JSON body, settled through the translation once it has been read. */
function meteredJson(
  response: Response,
  source: ReadableStream<Uint8Array>,
  call: OpenCall,
  translation: CallTranslation,
): Response {
  const decoder = new TextDecoder();
  let text = "";
  let finished = false;
  const finish = async (): Promise<void> => {
    if (finished) return;
    finished = true;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      await call.hold.settleEstimated(Buffer.byteLength(text, "utf8")).catch(() => {});
      return;
    }
    await settleResponse(call, translation, parsed).catch(() => {});
  };
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  const body = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        reader ??= source.getReader();
        let step: Awaited<ReturnType<typeof reader.read>>;
        try {
          step = await reader.read();
        } catch (error) {
          await finish();
          controller.error(error);
          return;
        }
        text += decoder.decode(step.value, { stream: !step.done });
        if (step.done) {
          await finish();
          controller.close();
          return;
        }
        controller.enqueue(step.value);
      },
      async cancel(reason) {
        await reader?.cancel(reason).catch(() => {});
        await finish();
      },
    },
    { highWaterMark: 0 },
  );
  return new Response(body, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}

/**
 * Meters the events of a text/event-stream body and decides what of it the consumer gets: the
 * bytes as they came, or, with a restorer, each event re-encoded once restored.
 */
class EventRelay {
  readonly #meter: StreamMeter<unknown>;
  readonly #restore: ChunkRestorer | undefined;
  readonly #decoder = new TextDecoder();
  readonly #events = new ServerSentEvents();
  readonly #encoder = new TextEncoder();
  /** Events read but not yet delivered: their data parsed (restored in place), or as it came. */
  readonly #held: Array<{ fields: string[]; data: string; parsed?: unknown }> = [];

  constructor(meter: StreamMeter<unknown>, restore: ChunkRestorer | undefined) {
    this.#meter = meter;
    this.#restore = restore;
  }

  /** Takes the next bytes of the body; returns what to deliver now, if anything. */
  push(bytes: Uint8Array): Uint8Array | undefined {
    this.#take(this.#events.push(this.#decoder.decode(bytes, { stream: true })));
    if (this.#restore === undefined) return bytes;
    return this.#restore.pending() ? undefined : this.#release();
  }

  /** At the end of the body (or a failure): what is still to deliver. */
  end(): Uint8Array {
    this.#take(this.#events.push(this.#decoder.decode()));
    this.#restore?.finish();
    return this.#restore === undefined ? new Uint8Array() : this.#release();
  }

  #take(events: Array<{ fields: string[]; data: string }>): void {
    for (const event of events) {
      let parsed: unknown;
      try {
        parsed = event.data === "[DONE]" ? undefined : JSON.parse(event.data);
      } catch {
        // Not JSON (a keep-alive): nothing to meter or restore.
      }
      // Metered as the provider sent it, then restored.
      if (parsed !== undefined) this.#meter.observe(parsed);
      if (this.#restore === undefined) continue;
      if (parsed !== undefined) this.#restore.chunk(parsed);
      this.#held.push(parsed === undefined ? event : { ...event, parsed });
    }
  }

  #release(): Uint8Array {
    let text = "";
    for (const event of this.#held.splice(0)) {
      const data = event.parsed === undefined ? event.data : JSON.stringify(event.parsed);
      const lines = [...event.fields, ...data.split("\n").map((line) => `data: ${line}`)];
      text += `${lines.join("\n")}\n\n`;
    }
    return this.#encoder.encode(text);
  }
}

/**
 * Splits text/event-stream input into events: the data of each (multi-line data joined with "\n")
 * and its other lines (`event:`, `id:`, comments), in order.
 */
class ServerSentEvents {
  #buffer = "";
  #data: string[] = [];
  #fields: string[] = [];

  push(text: string): Array<{ fields: string[]; data: string }> {
    this.#buffer += text;
    const lines = this.#buffer.split(/\r\n|\r|\n/);
    this.#buffer = lines.pop() ?? "";
    const complete: Array<{ fields: string[]; data: string }> = [];
    for (const line of lines) {
      if (line === "") {
        if (this.#data.length > 0) complete.push({ fields: this.#fields, data: this.#data.join("\n") });
        this.#data = [];
        this.#fields = [];
      } else if (line.startsWith("data:")) {
        this.#data.push(line.slice(line.startsWith("data: ") ? 6 : 5));
      } else {
        this.#fields.push(line);
      }
    }
    return complete;
  }
}
