// One call between the client's stream and a stream to the satellite, both node:http2 (nghttp2).
// It knows nothing of services or messages: headers (repeated ones kept apart, never-indexed
// ones still never-indexed), DATA with backpressure both ways, trailers as sent, resets both
// ways. The director has already decided where; until it has, the client's bytes wait in the
// stream (unread, so its window is not given back).
//
// Hot path: listeners are module-level functions that find their call through the emitting
// stream, so forwarding a call allocates one object rather than a dozen closures.
import { AsyncResource } from "node:async_hooks";
import http2 from "node:http2";
import { encodeGrpcMessage, Status } from "./grpc.ts";
import type { Caller } from "./wake-wait.ts";

const H2 = http2.constants;
const SENSITIVE = http2.sensitiveHeaders;

export interface ForwardHooks {
  /** DATA from the client to the satellite (read-only: it is relayed as it is). */
  sent(chunk: Buffer): void;
  /** DATA from the satellite to the client (read-only: it is relayed as it is). */
  received(chunk: Buffer): void;
  /**
   * Once, when the call is over: its gRPC status, or "reset" when it ended in RST_STREAM; and the
   * status message the client got with it, as sent (percent-encoded), if any.
   */
  done(outcome: number | "reset", message: string | undefined): void;
  /** The proxy reset the satellite's stream (the client went away, or the call was ended). */
  resetUpstream(): void;
}

export type Headers = http2.OutgoingHttpHeaders & { [SENSITIVE]?: string[] };

/** Header pairs as a header object; a repeated name becomes an array, sent as separate fields. */
export function headersFromRaw(raw: readonly string[], sensitive?: readonly string[]): Headers {
  const out: Headers = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const key = raw[i]!;
    const value = raw[i + 1]!;
    const prev = out[key];
    if (prev === undefined) out[key] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else out[key] = [String(prev), value];
  }
  // A field the sender marked never-indexed stays so on the next hop (HPACK's N bit).
  if (sensitive && sensitive.length > 0) out[SENSITIVE] = [...sensitive];
  return out;
}

/** The never-indexed field names of a received header block. */
export function sensitiveOf(headers: http2.IncomingHttpHeaders): string[] | undefined {
  return (headers as { [SENSITIVE]?: string[] })[SENSITIVE];
}

/**
 * The call's status as counted and recorded (the client gets the satellite's trailers as sent):
 * a code gRPC does not define is UNKNOWN, as a gRPC client reads it, so a satellite cannot grow
 * the metrics' label set or hand the build records a number no column holds.
 */
function grpcStatusOf(headers: http2.IncomingHttpHeaders): number {
  const v = headers["grpc-status"];
  const n = Number(Array.isArray(v) ? v[0] : v);
  return v !== undefined && Number.isInteger(n) && n >= Status.OK && n <= Status.UNAUTHENTICATED ? n : Status.UNKNOWN;
}

/** A status's grpc-message as it travels (percent-encoded); the first, if repeated. */
function grpcMessageOf(headers: http2.IncomingHttpHeaders | Headers | undefined): string | undefined {
  const v = headers?.["grpc-message"];
  return v === undefined ? undefined : String(Array.isArray(v) ? v[0] : v);
}

function statusHeaders(code: number, message: string): Headers {
  return { "grpc-status": String(code), "grpc-message": encodeGrpcMessage(message) };
}

const CALL = Symbol("satellites.call");
type Tagged<T> = T & { [CALL]?: Call };

// Our own high-water mark for the bytes a stream holds unsent. Node's http2 streams have a fixed
// 16 KiB one, so every 16 KiB DATA frame made write() return false: a pause and a resume per
// frame. 256 KiB lets a socket read's worth of frames through at once.
const HIGH_WATER = 256 << 10;
const RESPOND_OPEN = { waitForTrailers: true, sendDate: false } as http2.ServerStreamResponseOptions;
const RESPOND_END = { endStream: true, sendDate: false } as http2.ServerStreamResponseOptions;
const REQUEST_OPTIONS: http2.ClientSessionRequestOptions = { endStream: false };

function noop(): void {}

// Node 20's ClientHttp2Session.request() wraps its internal connect callback with
// AsyncResource.prototype.bind, which defines the deprecated (DEP0172) `asyncResource` accessor
// on the bound function by building two fresh util.deprecate() wrappers: `deprecate` was 1.5 %
// of the proxy's CPU in issue 12's profile, four closures per call. Nothing outside request()
// ever sees that bound function, so for the duration of the call bind is a plain one with the
// same async-context behaviour (runInAsyncScope on the same resource), minus the accessor.
// (What request() binds is already bound to its stream, so node's call-site `this` is unused.)
const nodeBind = AsyncResource.prototype.bind;
function plainBind(this: AsyncResource, fn: (...args: unknown[]) => unknown, thisArg?: unknown): (...args: unknown[]) => unknown {
  return this.runInAsyncScope.bind(this, fn, thisArg);
}
function request(session: http2.ClientHttp2Session, headers: Headers): http2.ClientHttp2Stream {
  AsyncResource.prototype.bind = plainBind as unknown as typeof nodeBind;
  try {
    return session.request(headers, REQUEST_OPTIONS);
  } finally {
    AsyncResource.prototype.bind = nodeBind;
  }
}

/** Node's refusal of the request's own headers (`ERR_HTTP2_HEADER_SINGLE_VALUE`, `ERR_HTTP2_INVALID_CONNECTION_HEADERS`, …). */
function refusedHeaders(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === "string" && /^ERR_(HTTP2_(HEADER|INVALID_(CONNECTION_HEADERS|HEADER_VALUE|PSEUDOHEADER))|INVALID_HTTP_TOKEN|INVALID_CHAR)/.test(code);
}

/** How long a call ended by the proxy waits for its client to read what is queued before the status. */
const END_GRACE_MS = 10_000;

export class Call implements Caller {
  up: Tagged<http2.ClientHttp2Stream> | undefined;
  hooks: ForwardHooks | undefined;
  private upSession: http2.ClientHttp2Session | undefined;
  private finished = false;
  /** end() set the status: the upstream's close that follows is the proxy's own reset. */
  private endedByProxy = false;
  /** end()'s wait for the client to read on before the status; cleared once the call is over. */
  private endGrace: NodeJS.Timeout | undefined;
  /** Answered or ended: nothing more to send. */
  get over(): boolean {
    return this.finished;
  }
  private responded = false;
  private trailers: Headers | undefined;
  private trailersStatus: number = Status.INTERNAL;
  /** Told when the client goes away before the call is forwarded or answered. */
  onClientGone: (() => void) | undefined;
  /** The client's connection (a closed stream no longer knows it). */
  private readonly clientSession: http2.Http2Session | undefined;
  /** Told once when the call is over, however it ended (the open-calls registry listens). */
  onOver: (() => void) | undefined;
  /** DATA chunks relayed each way so far, and whether that side's writes are being gathered (see `gather`). */
  upChunks = 0;
  downChunks = 0;
  upCorked = false;
  downCorked = false;

  constructor(
    readonly down: Tagged<http2.ServerHttp2Stream>,
    /** Told when the client's side ends the call by a reset (its own, or one it provoked), with its code. */
    private readonly onClientReset: (code: number) => void,
  ) {
    this.clientSession = down.session;
    down[CALL] = this;
    // Errors surface again as 'close' with an rstCode; handled there, in one place.
    down.on("error", noop);
    down.on("close", onDownClose);
  }

  /** The client reset or disconnected. */
  get clientGone(): boolean {
    return this.down.closed || this.down.destroyed;
  }

  /**
   * Bytes of this call the proxy holds, both ways: from the satellite, unsent to the client or
   * not yet handed on; from the client, unread (held for a wake, or behind the satellite's
   * backpressure) or unsent to the satellite.
   */
  get buffered(): number {
    const up = this.up;
    return this.down.writableLength + this.down.readableLength + (up ? up.readableLength + up.writableLength : 0);
  }

  /** Opens the upstream stream on `session` with `headers` and starts relaying both ways. */
  forward(session: http2.ClientHttp2Session, headers: Headers, hooks: ForwardHooks): void {
    this.hooks = hooks;
    let up: Tagged<http2.ClientHttp2Stream>;
    try {
      up = request(session, headers);
    } catch (err) {
      // HTTP/2 lets a request carry what Node will not send on (a repeated `user-agent`,
      // `http2-settings`): the client's mistake, not an outage it should retry.
      if (refusedHeaders(err)) this.answer(Status.INVALID_ARGUMENT, `a request header cannot be forwarded: ${(err as Error).message}`);
      else this.answer(Status.UNAVAILABLE, `cannot open a stream to the satellite: ${(err as Error).message}`);
      return;
    }
    this.up = up;
    this.upSession = session;
    up[CALL] = this;
    up.on("error", noop);
    up.on("response", onUpResponse);
    up.on("trailers", onUpTrailers);
    up.on("close", onUpClose);
    const down = this.down;
    down.on("data", onDownData);
    down.on("end", onDownEnd);
    down.on("wantTrailers", onWantTrailers);
    // A client that half-closed before the call was forwarded (HEADERS then END_STREAM in one
    // read) may have had its 'end' emitted already: node:http2 resumes an ended stream itself.
    if (down.readableEnded) onDownEnd.call(down);
  }

  /** Ends the call with the proxy's own status, before any response: trailers-only. */
  answer(code: number, message: string): void {
    const headers = statusHeaders(code, message);
    this.answerWith({ ":status": 200, "content-type": "application/grpc", ...headers });
    this.finish(code, grpcMessageOf(headers));
  }

  /** Answers a request that is not a gRPC call at all with an HTTP status and a line saying why. */
  answerHttp(status: number, text: string): void {
    const down = this.down;
    this.finish(Status.INVALID_ARGUMENT);
    if (down.destroyed || down.closed || down.headersSent) return;
    try {
      down.respond({ ":status": status, "content-type": "text/plain; charset=utf-8" }, { sendDate: false } as http2.ServerStreamResponseOptions);
      down.end(`${text}\n`);
      if (!down.endAfterHeaders) down.resume();
    } catch {
      // already gone; 'close' reports it
    }
  }

  /**
   * Ends an open call with the proxy's status (revocation, shutdown): trailers after the
   * response, or trailers-only before it; the satellite hears CANCEL.
   */
  end(code: number, message: string): void {
    if (this.finished) return;
    if (!this.responded) {
      this.answer(code, message);
    } else {
      this.trailers = statusHeaders(code, message);
      this.trailersStatus = code;
      this.endedByProxy = true;
      const down = this.down;
      if (!down.destroyed && !down.writableEnded) down.end();
      // The trailers go after what is queued: a client that reads nothing more is reset instead.
      this.endGrace = setTimeout(() => {
        if (!this.finished && !down.destroyed && !down.closed) down.close(H2.NGHTTP2_CANCEL);
      }, END_GRACE_MS);
      this.endGrace.unref();
    }
    this.resetUp(H2.NGHTTP2_CANCEL);
  }

  /** RST_STREAM towards the satellite, counted: its HTTP/2 server may limit the resets it takes per connection. */
  private resetUp(code: number): void {
    const up = this.up;
    if (!up || up.closed || up.destroyed) return;
    up.close(code);
    if (code !== H2.NGHTTP2_NO_ERROR) this.hooks?.resetUpstream();
  }

  private answerWith(headers: Headers): void {
    const down = this.down;
    if (down.destroyed || down.closed || down.headersSent) return;
    try {
      down.respond(headers, RESPOND_END);
      // Whatever the client still sends is read and dropped (its window given back), so it is
      // not left blocked; nghttp2 keeps checking it (content-length, stream state) meanwhile.
      if (!down.endAfterHeaders) down.resume();
    } catch {
      // already gone; 'close' reports it
    }
  }

  finish(outcome: number | "reset", message?: string): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.endGrace);
    this.hooks?.done(outcome, message);
    this.onOver?.();
  }

  // ---- satellite → client, used by the listeners below ----
  respond(headers: http2.IncomingHttpHeaders, flags: number, raw: string[]): boolean {
    const down = this.down;
    if (down.destroyed || down.closed) return false;
    const out = headersFromRaw(raw, sensitiveOf(headers));
    try {
      if (flags & H2.NGHTTP2_FLAG_END_STREAM) {
        // Trailers-only: the status is in these headers, and so it stays.
        down.respond(out, RESPOND_END);
        this.responded = true;
        this.finish(grpcStatusOf(headers), grpcMessageOf(headers));
        return false;
      }
      // Flushed right away: the client sees response headers as soon as the satellite sends them.
      down.respond(out, RESPOND_OPEN);
      this.responded = true;
    } catch (err) {
      // Headers HTTP/2 allows and Node refuses to send (a repeated single-value header): the
      // client still gets an answer, not silence until its deadline.
      if (down.destroyed || down.closed || down.headersSent) return false;
      this.answer(Status.INTERNAL, `satellite's response headers cannot be passed on: ${(err as Error).message}`);
      this.resetUp(H2.NGHTTP2_CANCEL);
      return false;
    }
    return true;
  }

  keepTrailers(headers: http2.IncomingHttpHeaders, raw: string[]): void {
    this.trailers = headersFromRaw(raw, sensitiveOf(headers));
    this.trailersStatus = grpcStatusOf(headers);
  }

  sendTrailers(): void {
    if (!this.trailers) {
      // The upstream closed its side without a status: that is not a success.
      this.trailers = statusHeaders(Status.INTERNAL, "satellite ended the call without a status");
      this.trailersStatus = Status.INTERNAL;
    }
    try {
      this.down.sendTrailers(this.trailers);
    } catch (err) {
      // The client went away meanwhile ('close' reports it), or the satellite's trailers are
      // ones Node refuses to send (a repeated single-value header): the proxy's status instead.
      if (this.down.destroyed || this.down.closed) return this.finish(this.trailersStatus, grpcMessageOf(this.trailers));
      this.trailers = statusHeaders(Status.INTERNAL, `satellite's trailers cannot be passed on: ${(err as Error).message}`);
      this.trailersStatus = Status.INTERNAL;
      try {
        this.down.sendTrailers(this.trailers);
      } catch {
        this.down.close(H2.NGHTTP2_INTERNAL_ERROR);
      }
    }
    this.finish(this.trailersStatus, grpcMessageOf(this.trailers));
  }

  upClosed(up: http2.ClientHttp2Stream): void {
    const down = this.down;
    // Ended by the proxy (end()): the CANCEL coming back is its own, the trailers already set.
    if (this.finished || this.endedByProxy || down.destroyed || down.closed) return;
    const code = up.rstCode ?? H2.NGHTTP2_NO_ERROR;
    const session = this.upSession;
    const sessionLost = !session || session.destroyed || session.closed;
    if (code !== H2.NGHTTP2_NO_ERROR && !sessionLost) {
      // A reset from the satellite reaches the client as the same reset.
      down.close(code);
      this.finish("reset");
      return;
    }
    if (!this.responded) {
      this.answer(Status.UNAVAILABLE, sessionLost ? "lost the connection to the satellite" : "satellite closed the call without answering");
      return;
    }
    if (this.trailers || up.readableEnded) return; // 'wantTrailers' finishes the call
    this.trailers = statusHeaders(sessionLost ? Status.UNAVAILABLE : Status.INTERNAL, sessionLost ? "lost the connection to the satellite" : "satellite ended the call without a status");
    this.trailersStatus = sessionLost ? Status.UNAVAILABLE : Status.INTERNAL;
    if (!down.writableEnded) down.end();
  }

  downClosed(): void {
    const down = this.down;
    const code = down.rstCode;
    const session = this.clientSession;
    // Resets count against the client's address, unless its whole connection went away.
    if (!this.finished && session && !session.destroyed && !session.closed) this.onClientReset(code ?? H2.NGHTTP2_NO_ERROR);
    // The client reset (or its connection died) before the call ended: the upstream hears CANCEL
    // (or the client's own error code).
    this.resetUp(this.finished ? H2.NGHTTP2_NO_ERROR : code && code !== H2.NGHTTP2_NO_ERROR ? code : H2.NGHTTP2_CANCEL);
    this.onClientGone?.();
    this.finish("reset");
  }
}

// A stream's DATA arrives one chunk (one frame) per callback, many per socket read. From a
// stream's second chunk on, the chunks that arrive before the event loop's next turn go out in
// one writev instead of one write each: one write request, one completion callback, for all of
// them. A unary call's single message is written at once, as before.
function uncorkUp(c: Call): void {
  c.upCorked = false;
  const up = c.up;
  if (up && !up.destroyed) up.uncork();
}
function uncorkDown(c: Call): void {
  c.downCorked = false;
  if (!c.down.destroyed) c.down.uncork();
}

// ---- client → satellite ----------------------------------------------------------------
function onDownData(this: Tagged<http2.ServerHttp2Stream>, chunk: Buffer): void {
  const c = this[CALL]!;
  c.hooks!.sent(chunk);
  const up = c.up!;
  if (up.destroyed || up.writableEnded) return;
  if (c.upChunks++ > 0 && !c.upCorked) {
    c.upCorked = true;
    up.cork();
    setImmediate(uncorkUp, c);
  }
  up.write(chunk);
  // Backpressure: stop reading the client while the upstream holds HIGH_WATER bytes unsent.
  if (up.writableLength >= HIGH_WATER) {
    this.pause();
    up.once("drain", onUpDrain);
  }
}
function onUpDrain(this: Tagged<http2.ClientHttp2Stream>): void {
  this[CALL]!.down.resume();
}
function onDownEnd(this: Tagged<http2.ServerHttp2Stream>): void {
  // Node also ends the readable side on RST_STREAM; a reset is passed on by 'close'.
  if (this.rstCode) return;
  const up = this[CALL]!.up;
  if (up && !up.destroyed && !up.writableEnded) up.end();
}
function onDownClose(this: Tagged<http2.ServerHttp2Stream>): void {
  this[CALL]!.downClosed();
}
function onWantTrailers(this: Tagged<http2.ServerHttp2Stream>): void {
  this[CALL]!.sendTrailers();
}

// ---- satellite → client ----------------------------------------------------------------
function onUpResponse(this: Tagged<http2.ClientHttp2Stream>, headers: http2.IncomingHttpHeaders, flags: number, raw: string[]): void {
  if (!this[CALL]!.respond(headers, flags, raw)) return;
  this.on("data", onUpData);
  this.on("end", onUpEnd);
}
function onUpData(this: Tagged<http2.ClientHttp2Stream>, chunk: Buffer): void {
  const c = this[CALL]!;
  c.hooks!.received(chunk);
  const down = c.down;
  if (down.destroyed || down.writableEnded) return;
  if (c.downChunks++ > 0 && !c.downCorked) {
    c.downCorked = true;
    down.cork();
    setImmediate(uncorkDown, c);
  }
  down.write(chunk);
  // Backpressure: a client that does not read stalls only this stream (its satellite stream's
  // window is not given back); the satellite connection's window is (node:http2 consumes it as
  // data arrives), so other callers of the same satellite keep their throughput.
  if (down.writableLength >= HIGH_WATER) {
    this.pause();
    down.once("drain", onDownDrain);
  }
}
function onDownDrain(this: Tagged<http2.ServerHttp2Stream>): void {
  this[CALL]!.up?.resume();
}
function onUpEnd(this: Tagged<http2.ClientHttp2Stream>): void {
  if (this.rstCode) return;
  const down = this[CALL]!.down;
  if (!down.destroyed && !down.writableEnded) down.end();
}
function onUpTrailers(this: Tagged<http2.ClientHttp2Stream>, headers: http2.IncomingHttpHeaders, _flags: number, raw: string[]): void {
  this[CALL]!.keepTrailers(headers, raw);
}
function onUpClose(this: Tagged<http2.ClientHttp2Stream>): void {
  this[CALL]!.upClosed(this);
}
