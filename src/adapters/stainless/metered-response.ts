import { Buffer } from "node:buffer";
import {
  type CallContext,
  type CallTranslation,
  type OpenCall,
  settleResponse,
  settleStream,
} from "../governed-call.ts";

/**
 * A Response over the same bytes as the SDK's raw `response`, metered as they are read: a stream's
 * server-sent events go through the call's meter, a whole JSON body through the translation. Used
 * where an SDK helper parses the raw response itself (Anthropic's message threads do), so the call
 * still settles at its usage. The original body is only taken when this one is first read, so the
 * SDK's own parse can still read it when this one is not used.
 *
 * destroy() cancels a streamed body whose hold is still open, as meterStream's streams are closed:
 * one being read settles at what was read, one never read is left to be voided.
 */
export function meteredResponse(
  response: Response,
  call: OpenCall,
  translation: CallTranslation,
  onDestroying: CallContext["onDestroying"],
): Response {
  const source = response.body;
  if (source === null) return response;
  const decoder = new TextDecoder();
  const events = new ServerSentEvents();
  let text = "";
  let finished = false;
  const finish = async (completed: boolean): Promise<void> => {
    if (finished) return;
    finished = true;
    if (call.meter !== undefined) {
      await settleStream(call.meter, call.hold, completed);
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      await call.hold.settleEstimated(Buffer.byteLength(text, "utf8")).catch(() => {});
      return;
    }
    await settleResponse(call, translation, parsed).catch(() => {});
  };
  const observe = (bytes: Uint8Array | undefined): void => {
    const chunk = decoder.decode(bytes, { stream: bytes !== undefined });
    if (call.meter === undefined) {
      text += chunk;
      return;
    }
    for (const data of events.push(chunk)) {
      if (data === "[DONE]") continue;
      try {
        call.meter.observe(JSON.parse(data) as never);
      } catch {
        // Not JSON (a comment or keep-alive): nothing to meter.
      }
    }
  };
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  if (call.meter !== undefined) {
    const forget = onDestroying(async () => {
      const reading = reader !== undefined;
      // Cancelling the body ends the request: the provider stops generating, the socket closes.
      await (reader ?? source).cancel().catch(() => {});
      if (reading) await finish(false);
    });
    call.hold.receipt.then(forget, forget);
  }
  const body = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        reader ??= source.getReader();
        let step: Awaited<ReturnType<typeof reader.read>>;
        try {
          step = await reader.read();
        } catch (error) {
          await finish(false);
          controller.error(error);
          return;
        }
        if (step.done) {
          observe(undefined);
          await finish(true);
          controller.close();
          return;
        }
        observe(step.value);
        controller.enqueue(step.value);
      },
      async cancel(reason) {
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

/** Splits text/event-stream input into the data of each event (multi-line data joined with "\n"). */
class ServerSentEvents {
  #buffer = "";
  #data: string[] = [];

  push(text: string): string[] {
    this.#buffer += text;
    const lines = this.#buffer.split(/\r\n|\r|\n/);
    this.#buffer = lines.pop() ?? "";
    const complete: string[] = [];
    for (const line of lines) {
      if (line === "") {
        if (this.#data.length > 0) complete.push(this.#data.join("\n"));
        this.#data = [];
      } else if (line.startsWith("data:")) {
        this.#data.push(line.slice(line.startsWith("data: ") ? 6 : 5));
      }
    }
    return complete;
  }
}
