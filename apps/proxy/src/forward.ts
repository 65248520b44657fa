// Moves one call's bytes between the client's stream and a new stream on an upstream session.
// It knows nothing of services or messages: headers (repeated ones kept apart), DATA frames
// with backpressure both ways, trailers, and resets. The director has already decided where.
import type http2 from "node:http2";
import type { Readable, Writable } from "node:stream";
import { encodeGrpcMessage, H2, Status } from "./grpc.ts";

export interface ForwardHooks {
  /** Bytes of DATA from the client to the satellite. */
  sent(bytes: number): void;
  /** Bytes of DATA from the satellite to the client. */
  received(bytes: number): void;
  /** Once, when the call is over: its gRPC status, or "reset" when it ended in RST_STREAM. */
  done(outcome: number | "reset"): void;
}

/** Header pairs as a header object; a repeated name becomes an array, sent as separate fields. */
export function headersFromRaw(raw: readonly string[], drop?: ReadonlySet<string>): http2.OutgoingHttpHeaders {
  const out: http2.OutgoingHttpHeaders = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const key = raw[i]!.toLowerCase();
    if (drop?.has(key)) continue;
    const value = raw[i + 1]!;
    const prev = out[key];
    if (prev === undefined) out[key] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else out[key] = [String(prev), value];
  }
  return out;
}

/** Copies DATA from `src` to `dst`, pausing `src` while `dst` is over its high-water mark. */
function pump(src: Readable & { readonly rstCode?: number }, dst: Writable, count: (n: number) => void): void {
  const resume = (): void => {
    src.resume();
  };
  src.on("data", (chunk: Buffer) => {
    count(chunk.length);
    if (dst.destroyed || dst.writableEnded) return;
    if (!dst.write(chunk)) {
      src.pause();
      dst.once("drain", resume);
    }
  });
  src.once("end", () => {
    // Node also ends the readable side on RST_STREAM; a reset is not an END_STREAM and is
    // passed on as a reset by the 'close' handlers instead.
    if (src.rstCode) return;
    if (!dst.destroyed && !dst.writableEnded) dst.end();
  });
}

function grpcStatusOf(headers: http2.IncomingHttpHeaders): number {
  const v = headers["grpc-status"];
  const n = Number(Array.isArray(v) ? v[0] : v);
  return Number.isInteger(n) ? n : Status.UNKNOWN;
}

/**
 * Forwards the call on `down` to a new stream on `session` with `headers`. Returns the upstream
 * stream (for tests and metrics); all outcomes are reported through `hooks.done`.
 */
export function forward(down: http2.ServerHttp2Stream, session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, hooks: ForwardHooks): void {
  let finished = false;
  const finish = (outcome: number | "reset"): void => {
    if (finished) return;
    finished = true;
    hooks.done(outcome);
  };

  let up: http2.ClientHttp2Stream;
  try {
    up = session.request(headers, { endStream: false });
  } catch (err) {
    respondUnavailable(down, `cannot open a stream to the satellite: ${(err as Error).message}`);
    finish(Status.UNAVAILABLE);
    return;
  }

  let trailers: http2.OutgoingHttpHeaders | undefined;
  let trailersStatus: number = Status.INTERNAL;
  let responded = false;

  // Errors surface again as 'close' with an rstCode; handled there, in one place.
  up.on("error", () => {});
  down.on("error", () => {});

  pump(down, up, hooks.sent);

  up.once("response", (_h: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader, flags: number, raw: string[]) => {
    if (down.destroyed || down.closed) return;
    responded = true;
    const out = headersFromRaw(raw);
    out[":status"] = Number(out[":status"] ?? 200);
    const options = { sendDate: false } as http2.ServerStreamResponseOptions;
    if (flags & H2.NGHTTP2_FLAG_END_STREAM) {
      // Trailers-only: the status is in these headers, and so it stays.
      try {
        down.respond(out, { ...options, endStream: true });
      } catch {
        return;
      }
      finish(grpcStatusOf(_h));
      return;
    }
    try {
      down.respond(out, { ...options, waitForTrailers: true });
    } catch {
      return;
    }
    pump(up, down, hooks.received);
  });

  up.once("trailers", (h, _flags, raw: string[]) => {
    trailers = headersFromRaw(raw);
    trailersStatus = grpcStatusOf(h);
  });

  down.once("wantTrailers", () => {
    if (!trailers) {
      // The upstream closed its side without a status: that is not a success.
      trailers = { "grpc-status": String(Status.INTERNAL), "grpc-message": encodeGrpcMessage("satellite ended the call without a status") };
      trailersStatus = Status.INTERNAL;
    }
    try {
      down.sendTrailers(trailers);
    } catch {
      // The client went away meanwhile; 'close' reports it.
    }
    finish(trailersStatus);
  });

  down.once("close", () => {
    // The client reset (or the connection died) before the call ended: the upstream hears CANCEL.
    if (!up.closed && !up.destroyed) up.close(down.rstCode && down.rstCode !== H2.NGHTTP2_NO_ERROR ? down.rstCode : H2.NGHTTP2_CANCEL);
    if (!finished) finish("reset");
  });

  up.once("close", () => {
    if (finished || down.destroyed || down.closed) return;
    const code = up.rstCode ?? H2.NGHTTP2_NO_ERROR;
    const sessionLost = session.destroyed || session.closed;
    if (code !== H2.NGHTTP2_NO_ERROR && !sessionLost) {
      // A reset from the satellite reaches the client as the same reset.
      down.close(code);
      finish("reset");
      return;
    }
    if (!responded) {
      respondUnavailable(down, sessionLost ? "lost the connection to the satellite" : "satellite closed the call without answering");
      finish(Status.UNAVAILABLE);
      return;
    }
    if (trailers || up.readableEnded) return; // wantTrailers finishes the call
    if (sessionLost) {
      trailers = { "grpc-status": String(Status.UNAVAILABLE), "grpc-message": encodeGrpcMessage("lost the connection to the satellite") };
      trailersStatus = Status.UNAVAILABLE;
      if (!down.writableEnded) down.end();
    }
  });
}

function respondUnavailable(down: http2.ServerHttp2Stream, message: string): void {
  if (down.destroyed || down.closed || down.headersSent) return;
  try {
    down.respond(
      { ":status": 200, "content-type": "application/grpc", "grpc-status": String(Status.UNAVAILABLE), "grpc-message": encodeGrpcMessage(message) },
      { endStream: true, sendDate: false } as http2.ServerStreamResponseOptions,
    );
  } catch {
    // already gone
  }
}
