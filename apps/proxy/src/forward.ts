// Moves one call's bytes between the client's stream and a new stream on an upstream session.
// It knows nothing of services or messages: headers (repeated ones kept apart), DATA frames
// with backpressure both ways, trailers, and resets. The director has already decided where.
//
// Hot path: listeners are module-level functions that find their call through the emitting
// stream, so forwarding a call allocates one object rather than a dozen closures.
import { AsyncResource } from "node:async_hooks";
import type http2 from "node:http2";
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
export function headersFromRaw(raw: readonly string[]): http2.OutgoingHttpHeaders {
  const out: http2.OutgoingHttpHeaders = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const key = raw[i]!;
    const value = raw[i + 1]!;
    const prev = out[key];
    if (prev === undefined) out[key] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else out[key] = [String(prev), value];
  }
  return out;
}

function grpcStatusOf(headers: http2.IncomingHttpHeaders): number {
  const v = headers["grpc-status"];
  const n = Number(Array.isArray(v) ? v[0] : v);
  return Number.isInteger(n) ? n : Status.UNKNOWN;
}

const CALL = Symbol("satellites.call");
type Tagged<T> = T & { [CALL]?: Call };

class Call {
  finished = false;
  responded = false;
  corked = false;
  trailers: http2.OutgoingHttpHeaders | undefined;
  trailersStatus: number = Status.INTERNAL;

  constructor(
    readonly down: Tagged<http2.ServerHttp2Stream>,
    readonly up: Tagged<http2.ClientHttp2Stream>,
    readonly session: http2.ClientHttp2Session,
    readonly hooks: ForwardHooks,
  ) {}

  finish(outcome: number | "reset"): void {
    if (this.finished) return;
    this.finished = true;
    this.hooks.done(outcome);
  }
}

function noop(): void {}

// Our own high-water mark for the bytes a stream holds unsent (in its Writable buffer, not yet
// taken by nghttp2). Node's http2 streams have a fixed 16 KiB one, so every 16 KiB DATA frame
// made write() return false: a pause, a 'drain' and a resume per frame, and the next frame read
// only after the previous one reached the socket. 256 KiB lets a socket read's worth of frames
// through at once; far larger (512 KiB+) measured worse again (the queued chunks live long
// enough to be promoted and cost major GCs).
const HIGH_WATER = 256 << 10;

// ---- client → satellite ----------------------------------------------------------------
function onDownData(this: Tagged<http2.ServerHttp2Stream>, chunk: Buffer): void {
  const c = this[CALL]!;
  c.hooks.sent(chunk.length);
  const up = c.up;
  if (up.destroyed || up.writableEnded) return;
  // Held until the end of this loop turn, so a message and the client's END_STREAM that came
  // in one read also leave in one write (one packet, one wake-up of the satellite).
  if (!c.corked) {
    c.corked = true;
    up.cork();
    setImmediate(uncorkUp, c);
  }
  // Backpressure: stop reading the client while the upstream holds HIGH_WATER bytes unsent.
  up.write(chunk);
  if (up.writableLength >= HIGH_WATER) {
    this.pause();
    up.once("drain", onUpDrain);
  }
}
function uncorkUp(c: Call): void {
  c.corked = false;
  if (!c.up.destroyed) c.up.uncork();
}
function onUpDrain(this: Tagged<http2.ClientHttp2Stream>): void {
  this[CALL]!.down.resume();
}
function onDownEnd(this: Tagged<http2.ServerHttp2Stream>): void {
  // Node also ends the readable side on RST_STREAM; a reset is passed on as a reset by the
  // 'close' handler, never as END_STREAM.
  if (this.rstCode) return;
  const up = this[CALL]!.up;
  if (!up.destroyed && !up.writableEnded) up.end();
}

// ---- satellite → client ----------------------------------------------------------------
function onUpResponse(this: Tagged<http2.ClientHttp2Stream>, headers: http2.IncomingHttpHeaders, flags: number, raw: string[]): void {
  const c = this[CALL]!;
  const down = c.down;
  if (down.destroyed || down.closed) return;
  c.responded = true;
  const out = headersFromRaw(raw);
  out[":status"] = Number(out[":status"] ?? 200);
  try {
    if (flags & H2.NGHTTP2_FLAG_END_STREAM) {
      // Trailers-only: the status is in these headers, and so it stays.
      down.respond(out, { endStream: true, sendDate: false } as http2.ServerStreamResponseOptions);
      c.finish(grpcStatusOf(headers));
      return;
    }
    // Flushed right away: the client sees response headers as soon as the satellite sends them.
    down.respond(out, { waitForTrailers: true, sendDate: false } as http2.ServerStreamResponseOptions);
  } catch {
    return;
  }
  this.on("data", onUpData);
  this.on("end", onUpEnd);
}
function onUpData(this: Tagged<http2.ClientHttp2Stream>, chunk: Buffer): void {
  const c = this[CALL]!;
  c.hooks.received(chunk.length);
  const down = c.down;
  if (down.destroyed || down.writableEnded) return;
  down.write(chunk);
  if (down.writableLength >= HIGH_WATER) {
    this.pause();
    down.once("drain", onDownDrain);
  }
}
function onDownDrain(this: Tagged<http2.ServerHttp2Stream>): void {
  this[CALL]!.up.resume();
}
function onUpEnd(this: Tagged<http2.ClientHttp2Stream>): void {
  if (this.rstCode) return;
  const down = this[CALL]!.down;
  if (!down.destroyed && !down.writableEnded) down.end();
}
function onUpTrailers(this: Tagged<http2.ClientHttp2Stream>, headers: http2.IncomingHttpHeaders, _flags: number, raw: string[]): void {
  const c = this[CALL]!;
  c.trailers = headersFromRaw(raw);
  c.trailersStatus = grpcStatusOf(headers);
}
function onWantTrailers(this: Tagged<http2.ServerHttp2Stream>): void {
  const c = this[CALL]!;
  if (!c.trailers) {
    // The upstream closed its side without a status: that is not a success.
    c.trailers = { "grpc-status": String(Status.INTERNAL), "grpc-message": encodeGrpcMessage("satellite ended the call without a status") };
    c.trailersStatus = Status.INTERNAL;
  }
  try {
    this.sendTrailers(c.trailers);
  } catch {
    // The client went away meanwhile; 'close' reports it.
  }
  c.finish(c.trailersStatus);
}

// ---- ends and resets -------------------------------------------------------------------
function onDownClose(this: Tagged<http2.ServerHttp2Stream>): void {
  const c = this[CALL]!;
  const up = c.up;
  // The client reset (or its connection died) before the call ended: the upstream hears CANCEL.
  if (!up.closed && !up.destroyed) up.close(this.rstCode && this.rstCode !== H2.NGHTTP2_NO_ERROR ? this.rstCode : H2.NGHTTP2_CANCEL);
  c.finish("reset");
}
function onUpClose(this: Tagged<http2.ClientHttp2Stream>): void {
  const c = this[CALL]!;
  const down = c.down;
  if (c.finished || down.destroyed || down.closed) return;
  const code = this.rstCode ?? H2.NGHTTP2_NO_ERROR;
  const sessionLost = c.session.destroyed || c.session.closed;
  if (code !== H2.NGHTTP2_NO_ERROR && !sessionLost) {
    // A reset from the satellite reaches the client as the same reset.
    down.close(code);
    c.finish("reset");
    return;
  }
  if (!c.responded) {
    respondUnavailable(down, sessionLost ? "lost the connection to the satellite" : "satellite closed the call without answering");
    c.finish(Status.UNAVAILABLE);
    return;
  }
  if (c.trailers || this.readableEnded) return; // onWantTrailers finishes the call
  if (sessionLost) {
    c.trailers = { "grpc-status": String(Status.UNAVAILABLE), "grpc-message": encodeGrpcMessage("lost the connection to the satellite") };
    c.trailersStatus = Status.UNAVAILABLE;
    if (!down.writableEnded) down.end();
  }
}

// Node 20's ClientHttp2Session.request() wraps its internal connect callback with
// AsyncResource.prototype.bind, which defines the deprecated (DEP0172) `asyncResource` accessor
// on the bound function by building two fresh util.deprecate() wrappers — the `deprecate` and
// `bind` entries in a CPU profile, ~5 µs and four closures per call. Nothing outside request()
// ever sees that bound function, so for the duration of the call bind is a plain one with the
// same async-context behaviour (runInAsyncScope on the same resource), minus the accessor.
const nodeBind = AsyncResource.prototype.bind;
// (What request() binds is already bound to its stream, so the call-site `this` that node's
// version would pass on is never used.)
function plainBind(this: AsyncResource, fn: (...args: unknown[]) => unknown, thisArg?: unknown): (...args: unknown[]) => unknown {
  return this.runInAsyncScope.bind(this, fn, thisArg);
}
const REQUEST_OPTIONS: http2.ClientSessionRequestOptions = { endStream: false };
function request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders): http2.ClientHttp2Stream {
  AsyncResource.prototype.bind = plainBind as unknown as typeof nodeBind;
  try {
    return session.request(headers, REQUEST_OPTIONS);
  } finally {
    AsyncResource.prototype.bind = nodeBind;
  }
}

/** Forwards the call on `down` to a new stream on `session` with `headers`; outcomes go to `hooks`. */
export function forward(down: http2.ServerHttp2Stream, session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, hooks: ForwardHooks): void {
  let up: http2.ClientHttp2Stream;
  try {
    up = request(session, headers);
  } catch (err) {
    respondUnavailable(down, `cannot open a stream to the satellite: ${(err as Error).message}`);
    hooks.done(Status.UNAVAILABLE);
    return;
  }
  const c = new Call(down, up, session, hooks);
  (down as Tagged<http2.ServerHttp2Stream>)[CALL] = c;
  (up as Tagged<http2.ClientHttp2Stream>)[CALL] = c;
  // Errors surface again as 'close' with an rstCode; handled there, in one place.
  up.on("error", noop);
  down.on("error", noop);
  down.on("data", onDownData);
  down.on("end", onDownEnd);
  down.on("wantTrailers", onWantTrailers);
  down.on("close", onDownClose);
  up.on("response", onUpResponse);
  up.on("trailers", onUpTrailers);
  up.on("close", onUpClose);
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
