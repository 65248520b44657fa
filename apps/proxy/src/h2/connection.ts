// One HTTP/2 connection, either side: the client's connection to us (role "server") or ours to a
// satellite (role "client"). It speaks just enough HTTP/2 to relay streams: SETTINGS, PING,
// GOAWAY, RST_STREAM, flow control both ways, header blocks (HPACK-decoded, so the proxy can read
// metadata and statuses) and DATA frames, whose payloads are handed on without being copied.
//
// Why not node:http2: each forwarded call crossed nghttp2 and Node's stream machinery twice
// (about 70 µs of CPU per call, trailers always in a second write). Here a call costs a few
// frame headers, and everything one socket read produces leaves in one write per connection.
//
// Flow control is per hop: we grant the sender credit (WINDOW_UPDATE) only for bytes we have
// handed to the other socket, and we never send more than the receiver granted. So the bytes held
// per connection are bounded by the windows we advertise, whatever the two ends do.
import type { Socket } from "node:net";
import {
  ConnectionError,
  DEFAULT_MAX_FRAME,
  DEFAULT_WINDOW,
  ErrorCode,
  Flag,
  FrameReader,
  FrameType,
  frameHeader,
  goawayFrame,
  headerFrames,
  MAX_WINDOW,
  PREFACE,
  rstStreamFrame,
  SETTINGS_ACK,
  Setting,
  settingsFrame,
  unpad,
  windowUpdateFrame,
} from "./frames.ts";
import { HpackDecoder, HpackError } from "./hpack.ts";

/** onReset's code when the connection itself went away (no RST_STREAM was received). */
export const CONNECTION_LOST = -1;

/** What a stream's owner (a forwarded call) hears from the connection. */
export interface StreamOwner {
  /** A complete header block; `pairs` are raw [name, value, …]; `block` is its HPACK encoding. */
  onHeaders(half: Half, pairs: string[], block: Buffer, endStream: boolean): void;
  /**
   * DATA; the owner must give the `frameLength` back through `conn.consume` once it is done with
   * it. `frame` is the whole unpadded frame (header included) when it may be relayed in place.
   */
  onData(half: Half, data: Buffer, frameLength: number, endStream: boolean, frame: Buffer | undefined): void;
  /** RST_STREAM from the peer, or CONNECTION_LOST. The half is closed already. */
  onReset(half: Half, code: number): void;
}

interface QueuedData {
  data: Buffer;
  end: boolean;
  /** Credit to give back to the source once these bytes are written. */
  source: Half | undefined;
  credit: number;
}
interface QueuedHeaders {
  block: Buffer;
  end: boolean;
}
type Queued = QueuedData | QueuedHeaders;

/** One stream as seen on one connection. */
export class Half {
  sendWindow: number;
  /** Bytes the peer may still send us before we grant more. */
  recvAvailable: number;
  recvUncredited = 0;
  queue: Queued[] | undefined;
  /** We sent END_STREAM (or reset). */
  localEnded = false;
  /** The peer sent END_STREAM (or reset). */
  remoteEnded = false;
  closed = false;
  owner: StreamOwner | undefined;

  constructor(
    readonly conn: Connection,
    readonly id: number,
  ) {
    this.sendWindow = conn.peerInitialWindow;
    this.recvAvailable = conn.localStreamWindow;
  }
}

export interface ConnectionOptions {
  role: "server" | "client";
  /** Stream-level receive window we advertise. */
  streamWindow: number;
  /** Connection-level receive window we advertise. */
  connectionWindow: number;
  /** Server role: streams the peer may open at once. */
  maxConcurrentStreams?: number;
  /** Header block size (name + value + 32 per field) accepted per request/response. */
  maxHeaderListBytes: number;
  /** Bytes we may hold unsent for a peer that sends control frames without reading; default 64 MiB. */
  maxUnreadOutput?: number;
}

export interface ConnectionEvents {
  /** Server role: a new stream's request headers. Return its owner, or undefined after refusing it. */
  onStream?(half: Half, pairs: string[], endStream: boolean): StreamOwner | undefined;
  /** The peer's first SETTINGS arrived (client role: the connection is usable). */
  onReady?(): void;
  /** The peer sent GOAWAY. */
  onGoaway?(lastStreamId: number, code: number): void;
  onClose?(err: Error | undefined): void;
}

const MAX_HEADER_BLOCK = 1 << 20;
// Client resets allowed in a burst, and per second after it (nghttp2's defaults are 1000 and 33).
const RESET_BURST = 1000;
const RESET_PER_SECOND = 100;
const MAX_UNREAD_OUTPUT = 64 << 20;

class TokenBucket {
  private tokens: number;
  private at = Date.now();
  constructor(
    private readonly burst: number,
    private readonly perSecond: number,
  ) {
    this.tokens = burst;
  }
  take(): boolean {
    const now = Date.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) * this.perSecond) / 1000);
    this.at = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
const KEEPALIVE_PING = Buffer.from("sat-ping", "latin1");
/** HPACK "dynamic table size update" to 0. */
const TABLE_SIZE_ZERO = Buffer.from([0x20]);

export class Connection {
  readonly role: "server" | "client";
  readonly localStreamWindow: number;
  readonly streams = new Map<number, Half>();
  peerInitialWindow = DEFAULT_WINDOW;
  peerMaxFrame = DEFAULT_MAX_FRAME;
  peerMaxStreams = 100;
  ready = false;
  closed = false;
  /** We will open no new streams here (GOAWAY either way, or being dropped). */
  draining = false;
  readonly openedAt = Date.now();
  /** When the last stream closed (the connection's start while none has): for idle timeouts. */
  idleSince = this.openedAt;
  /** When the peer last sent anything, and when our unanswered keepalive PING went out (0: none). */
  lastReadAt = this.openedAt;
  pingSentAt = 0;

  private sendWindow = DEFAULT_WINDOW;
  private recvAvailable: number;
  private recvUncredited = 0;
  private readonly connectionWindow: number;
  private readonly reader: FrameReader;
  private readonly decoder: HpackDecoder;
  private out: Buffer[] = [];
  private flushScheduled = false;
  private congested = false;
  private deferredCredits: Array<[Half, number]> = [];
  /** Halves with data waiting for connection-level window. */
  private blocked = new Set<Half>();
  private prefaceLeft: number;
  private block: { streamId: number; endStream: boolean; parts: Buffer[]; size: number } | undefined;
  private lastPeerStreamId = 0;
  private nextStreamId = 1;
  private goawaySent = false;
  private readonly resets = new TokenBucket(RESET_BURST, RESET_PER_SECOND);
  private tableSizeUpdate = false;

  constructor(
    readonly socket: Socket,
    private readonly opts: ConnectionOptions,
    private readonly events: ConnectionEvents,
  ) {
    this.role = opts.role;
    this.localStreamWindow = opts.streamWindow;
    this.connectionWindow = opts.connectionWindow;
    this.recvAvailable = DEFAULT_WINDOW;
    this.reader = new FrameReader(DEFAULT_MAX_FRAME);
    // Upstreams are told to use no dynamic table, so their header blocks mean the same on any
    // connection and are relayed to clients as they are.
    this.decoder = new HpackDecoder(opts.role === "client" ? 0 : 4096);
    this.prefaceLeft = opts.role === "server" ? PREFACE.length : 0;

    const settings: Array<[number, number]> = [[Setting.INITIAL_WINDOW_SIZE, opts.streamWindow], [Setting.MAX_HEADER_LIST_SIZE, opts.maxHeaderListBytes]];
    if (opts.role === "server") settings.push([Setting.MAX_CONCURRENT_STREAMS, opts.maxConcurrentStreams ?? 1000]);
    else settings.push([Setting.ENABLE_PUSH, 0], [Setting.HEADER_TABLE_SIZE, 0]);
    if (opts.role === "client") this.out.push(PREFACE);
    this.out.push(settingsFrame(settings));
    if (opts.connectionWindow > DEFAULT_WINDOW) {
      this.out.push(windowUpdateFrame(0, opts.connectionWindow - DEFAULT_WINDOW));
      this.recvAvailable = opts.connectionWindow;
    }
    this.scheduleFlush();

    // A socket made with `onread` delivers through receive() instead of "data" events.
    socket.on("data", (chunk: Buffer) => this.receive(chunk));
    socket.on("error", (err) => this.destroy(err));
    socket.on("close", () => this.destroy());
    socket.on("drain", () => this.onDrain());
  }

  get openStreams(): number {
    return this.streams.size;
  }

  // ---- reading ---------------------------------------------------------------------------

  receive(chunk: Buffer): void {
    if (this.closed) return;
    this.lastReadAt = Date.now();
    try {
      if (this.prefaceLeft > 0) {
        const n = Math.min(this.prefaceLeft, chunk.length);
        const off = PREFACE.length - this.prefaceLeft;
        if (!chunk.subarray(0, n).equals(PREFACE.subarray(off, off + n))) {
          // Not HTTP/2 with prior knowledge (an HTTP/1 request, a TLS hello on the h2c port…).
          this.socket.destroy();
          return;
        }
        this.prefaceLeft -= n;
        chunk = chunk.subarray(n);
        if (chunk.length === 0) return;
      }
      this.reader.push(chunk, this.onFrame);
    } catch (err) {
      if (err instanceof ConnectionError) this.fail(err.code, err.message);
      else if (err instanceof HpackError) this.fail(ErrorCode.COMPRESSION_ERROR, err.message);
      else this.fail(ErrorCode.INTERNAL_ERROR, err instanceof Error ? err.message : String(err), err);
    }
  }

  private readonly onFrame = (type: number, flags: number, streamId: number, payload: Buffer): void => {
    if (this.block && type !== FrameType.CONTINUATION) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "expected CONTINUATION");
    switch (type) {
      case FrameType.DATA:
        return this.onDataFrame(flags, streamId, payload);
      case FrameType.HEADERS: {
        if (streamId === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "HEADERS on stream 0");
        const fragment = unpad(flags, payload, true);
        const endStream = (flags & Flag.END_STREAM) !== 0;
        if (flags & Flag.END_HEADERS) return this.onHeaderBlock(streamId, fragment, endStream);
        this.block = { streamId, endStream, parts: [fragment], size: fragment.length };
        return;
      }
      case FrameType.CONTINUATION: {
        const b = this.block;
        if (!b || b.streamId !== streamId) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "unexpected CONTINUATION");
        b.parts.push(payload);
        b.size += payload.length;
        if (b.size > MAX_HEADER_BLOCK) throw new ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, "header block too large");
        if (flags & Flag.END_HEADERS) {
          this.block = undefined;
          this.onHeaderBlock(streamId, Buffer.concat(b.parts, b.size), b.endStream);
        }
        return;
      }
      case FrameType.RST_STREAM: {
        if (payload.length !== 4) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "RST_STREAM payload");
        const half = this.streams.get(streamId);
        if (!half) return;
        // "Rapid reset" (CVE-2023-44487): opening and cancelling streams in a loop costs the
        // peer nothing and us (and the satellite) a call each. A token bucket, as nghttp2 has.
        if (this.role === "server" && !this.resets.take()) throw new ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, "too many stream resets");
        this.forget(half);
        half.remoteEnded = half.localEnded = true;
        half.owner?.onReset(half, payload.readUInt32BE(0));
        return;
      }
      case FrameType.SETTINGS:
        if (flags & Flag.ACK) return;
        return this.onSettings(payload);
      case FrameType.PING:
        if (payload.length !== 8) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "PING payload");
        if (flags & Flag.ACK) {
          if (payload.equals(KEEPALIVE_PING)) this.pingSentAt = 0;
          return;
        }
        this.guardControlFlood();
        this.write(frameHeader(8, FrameType.PING, Flag.ACK, 0), Buffer.from(payload));
        return;
      case FrameType.GOAWAY:
        return this.onGoaway(payload);
      case FrameType.WINDOW_UPDATE:
        return this.onWindowUpdate(streamId, payload);
      case FrameType.PUSH_PROMISE:
        throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "push is disabled");
      default:
        // PRIORITY and unknown extension frames: nothing to do (RFC 9113 §5.5).
        return;
    }
  };

  private onHeaderBlock(streamId: number, block: Buffer, endStream: boolean): void {
    // Decoded whatever happens next, so the HPACK state stays in step with the peer's.
    // A list past MAX_HEADER_BLOCK can only be a compression bomb: that ends the connection.
    const pairs = this.decoder.decode(block, MAX_HEADER_BLOCK);
    const half = this.streams.get(streamId);
    if (half) {
      if (half.remoteEnded) return;
      if (endStream) this.remoteEnd(half);
      if (listBytes(pairs) > this.opts.maxHeaderListBytes) return this.resetStream(half, ErrorCode.ENHANCE_YOUR_CALM, true);
      half.owner?.onHeaders(half, pairs, block, endStream);
      return;
    }
    if (this.role === "client") return; // a stream we already closed
    if (streamId % 2 === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `stream ${streamId} cannot be opened`);
    // Trailers for a stream we already reset: the reset crossed them on the wire.
    if (streamId <= this.lastPeerStreamId) return;
    this.lastPeerStreamId = streamId;
    if (this.goawaySent || this.streams.size >= (this.opts.maxConcurrentStreams ?? 1000)) {
      this.write(rstStreamFrame(streamId, ErrorCode.REFUSED_STREAM));
      return;
    }
    if (listBytes(pairs) > this.opts.maxHeaderListBytes) {
      this.write(rstStreamFrame(streamId, ErrorCode.ENHANCE_YOUR_CALM));
      return;
    }
    const fresh = new Half(this, streamId);
    this.streams.set(streamId, fresh);
    if (endStream) fresh.remoteEnded = true;
    fresh.owner = this.events.onStream?.(fresh, pairs, endStream);
  }

  private onDataFrame(flags: number, streamId: number, payload: Buffer): void {
    const length = payload.length;
    if (length > this.recvAvailable) throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, "connection window exceeded");
    this.recvAvailable -= length;
    const half = this.streams.get(streamId);
    if (!half || half.remoteEnded) {
      // A stream already closed on our side: its bytes still count against the connection.
      this.consume(undefined, length);
      if (!half && streamId > this.lastPeerStreamId && this.role === "server") throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "DATA on an idle stream");
      return;
    }
    if (length > half.recvAvailable) {
      this.consume(undefined, length);
      this.resetStream(half, ErrorCode.FLOW_CONTROL_ERROR, true);
      return;
    }
    half.recvAvailable -= length;
    const padded = (flags & Flag.PADDED) !== 0;
    const data = padded ? unpad(flags, payload, false) : payload;
    const endStream = (flags & Flag.END_STREAM) !== 0;
    if (endStream) this.remoteEnd(half);
    // The frame header sits right before the payload in the same read buffer.
    if (half.owner) half.owner.onData(half, data, length, endStream, padded ? undefined : Buffer.from(payload.buffer, payload.byteOffset - 9, length + 9));
    else this.consume(half, length);
  }

  private onSettings(payload: Buffer): void {
    if (payload.length % 6 !== 0) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "SETTINGS payload");
    // Not named in the peer's first SETTINGS: no limit (RFC 9113 §6.5.2; grpc-go sends none).
    // Until that first SETTINGS arrives we assume the customary 100.
    if (!this.ready) this.peerMaxStreams = 0x7fff_ffff;
    for (let i = 0; i < payload.length; i += 6) {
      const id = payload.readUInt16BE(i);
      const value = payload.readUInt32BE(i + 2);
      if (id === Setting.INITIAL_WINDOW_SIZE) {
        if (value > MAX_WINDOW) throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, "initial window too large");
        const delta = value - this.peerInitialWindow;
        this.peerInitialWindow = value;
        for (const h of this.streams.values()) h.sendWindow += delta;
      } else if (id === Setting.MAX_FRAME_SIZE) {
        if (value < DEFAULT_MAX_FRAME || value > 0xffffff) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "bad max frame size");
        this.peerMaxFrame = value;
      } else if (id === Setting.MAX_CONCURRENT_STREAMS) {
        this.peerMaxStreams = value;
      } else if (id === Setting.HEADER_TABLE_SIZE) {
        // We never index, so any size suits us; but a peer that lowers it expects the next block
        // to begin with a table size update (RFC 7541 §4.2), and gets one, to size 0.
        this.tableSizeUpdate = true;
      }
      // The rest concern push or limits we do not exceed.
    }
    this.guardControlFlood();
    this.write(SETTINGS_ACK);
    for (const h of this.streams.values()) if (h.queue) this.drain(h);
    if (!this.ready) {
      this.ready = true;
      this.events.onReady?.();
    }
  }

  /**
   * PING and SETTINGS each oblige us to answer; a peer that sends them without reading our
   * answers would grow our output without bound (our DATA is bounded by flow control, these not).
   */
  private guardControlFlood(): void {
    if (this.congested && this.socket.writableLength > (this.opts.maxUnreadOutput ?? MAX_UNREAD_OUTPUT)) throw new ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, "peer does not read its answers");
  }

  private onGoaway(payload: Buffer): void {
    if (payload.length < 8) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "GOAWAY payload");
    const lastStreamId = payload.readUInt32BE(0) & MAX_WINDOW;
    const code = payload.readUInt32BE(4);
    this.draining = true;
    this.events.onGoaway?.(lastStreamId, code);
    if (this.role === "client") {
      // Streams above lastStreamId were never seen by the peer: refused, safe to retry.
      for (const h of [...this.streams.values()]) {
        if (h.id > lastStreamId) {
          this.forget(h);
          h.localEnded = h.remoteEnded = true;
          h.owner?.onReset(h, ErrorCode.REFUSED_STREAM);
        }
      }
    }
    this.endIfIdle();
  }

  private onWindowUpdate(streamId: number, payload: Buffer): void {
    if (payload.length !== 4) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "WINDOW_UPDATE payload");
    const inc = payload.readUInt32BE(0) & MAX_WINDOW;
    if (streamId === 0) {
      this.sendWindow += inc;
      if (this.sendWindow > MAX_WINDOW) throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, "connection window overflow");
      if (this.blocked.size > 0) {
        const blocked = [...this.blocked];
        this.blocked.clear();
        for (const h of blocked) this.drain(h);
      }
      return;
    }
    const half = this.streams.get(streamId);
    if (!half) return;
    half.sendWindow += inc;
    if (half.sendWindow > MAX_WINDOW) return this.resetStream(half, ErrorCode.FLOW_CONTROL_ERROR, true);
    if (half.queue) this.drain(half);
  }

  private remoteEnd(half: Half): void {
    half.remoteEnded = true;
    if (half.localEnded) this.forget(half);
  }

  // ---- credit we give the peer -----------------------------------------------------------

  /** `n` bytes received on `half` (undefined: on no live stream) are done with: grant them again. */
  consume(half: Half | undefined, n: number): void {
    if (this.closed || n === 0) return;
    this.recvUncredited += n;
    if (this.recvUncredited >= this.connectionWindow >>> 2 || this.recvAvailable < this.connectionWindow >>> 1) {
      this.write(windowUpdateFrame(0, this.recvUncredited));
      this.recvAvailable += this.recvUncredited;
      this.recvUncredited = 0;
    }
    if (!half || half.remoteEnded) return;
    half.recvUncredited += n;
    if (half.recvUncredited >= this.localStreamWindow >>> 2 || half.recvAvailable < this.localStreamWindow >>> 1) {
      this.write(windowUpdateFrame(half.id, half.recvUncredited));
      half.recvAvailable += half.recvUncredited;
      half.recvUncredited = 0;
    }
  }

  /** Credit for bytes relayed from `source` is given once they are on this connection's socket. */
  private credit(source: Half | undefined, n: number): void {
    if (!source || n === 0) return;
    if (this.congested) this.deferredCredits.push([source, n]);
    else source.conn.consume(source, n);
  }

  private onDrain(): void {
    this.congested = false;
    const credits = this.deferredCredits;
    this.deferredCredits = [];
    for (const [h, n] of credits) h.conn.consume(h, n);
  }

  // ---- writing ---------------------------------------------------------------------------

  /** Opens a stream (client role). */
  open(owner: StreamOwner): Half {
    const half = new Half(this, this.nextStreamId);
    this.nextStreamId += 2;
    half.owner = owner;
    if (this.closed) {
      // Lost between choosing this connection and opening the stream: the owner hears it as such.
      half.closed = half.localEnded = half.remoteEnded = true;
      process.nextTick(() => owner.onReset(half, CONNECTION_LOST));
      return half;
    }
    this.streams.set(half.id, half);
    return half;
  }

  /** Whether a stream can be opened now, `reserved` places being promised already. */
  hasRoom(reserved = 0): boolean {
    return this.ready && !this.draining && !this.closed && this.streams.size + reserved < this.peerMaxStreams && this.nextStreamId < MAX_WINDOW - 2;
  }

  /** Sends a header block, after any DATA still queued on the stream. */
  sendHeaders(half: Half, block: Buffer, endStream: boolean): void {
    if (half.localEnded || this.closed) return;
    if (half.queue) {
      half.queue.push({ block, end: endStream });
      if (endStream) half.localEnded = true;
      return;
    }
    this.emitHeaders(half, block, endStream);
    if (endStream) this.localEnd(half);
  }

  private emitHeaders(half: Half, block: Buffer, endStream: boolean): void {
    if (this.tableSizeUpdate) {
      this.tableSizeUpdate = false;
      block = Buffer.concat([TABLE_SIZE_ZERO, block]);
    }
    headerFrames(this.out, half.id, block, endStream, this.peerMaxFrame);
    this.scheduleFlush();
  }

  /**
   * Sends DATA as the windows allow, queueing the rest. `credit` bytes are given back to `source`
   * (the half the data came from) when the last of it is written.
   */
  sendData(half: Half, data: Buffer, endStream: boolean, source?: Half, credit = 0, frame?: Buffer): void {
    if (half.localEnded || this.closed) {
      // Nowhere to go: the bytes are done with.
      if (source) source.conn.consume(source, credit);
      return;
    }
    if (half.queue) {
      half.queue.push({ data, end: endStream, source, credit });
      if (endStream) half.localEnded = true;
      return;
    }
    if (frame && data.length <= half.sendWindow && data.length <= this.sendWindow && data.length <= this.peerMaxFrame && (frame[4]! & Flag.END_STREAM ? endStream : !endStream)) {
      this.relayFrame(half, frame);
      this.credit(source, credit);
      if (endStream) this.localEnd(half);
      return;
    }
    const rest = this.emitData(half, data, endStream);
    if (rest === undefined) {
      this.credit(source, credit);
      if (endStream) this.localEnd(half);
      return;
    }
    half.queue = [{ data: rest, end: endStream, source, credit }];
    if (endStream) half.localEnded = true;
  }

  /**
   * Sends a received DATA frame on with only its stream id changed, in place: consecutive frames
   * of one read then leave as one slice of the read buffer, with no header or payload copied.
   */
  private relayFrame(half: Half, frame: Buffer): void {
    const n = frame.length - 9;
    frame.writeUInt32BE(half.id, 5);
    frame[4] = frame[4]! & Flag.END_STREAM;
    half.sendWindow -= n;
    this.sendWindow -= n;
    const out = this.out;
    const prev = out[out.length - 1];
    if (prev && prev.buffer === frame.buffer && prev.byteOffset + prev.length === frame.byteOffset) {
      out[out.length - 1] = Buffer.from(prev.buffer, prev.byteOffset, prev.length + frame.length);
    } else out.push(frame);
    this.scheduleFlush();
  }

  /** Writes what the windows allow; returns the unsent rest, or undefined when all went out. */
  private emitData(half: Half, data: Buffer, endStream: boolean): Buffer | undefined {
    let off = 0;
    const len = data.length;
    for (;;) {
      const n = Math.min(len - off, half.sendWindow, this.sendWindow, this.peerMaxFrame);
      if (n <= 0 && len - off > 0) {
        if (this.sendWindow <= 0) this.blocked.add(half);
        this.scheduleFlush();
        return off === 0 ? data : data.subarray(off);
      }
      const last = off + n >= len;
      this.out.push(frameHeader(n, FrameType.DATA, last && endStream ? Flag.END_STREAM : 0, half.id));
      if (n > 0) this.out.push(off === 0 && n === len ? data : data.subarray(off, off + n));
      half.sendWindow -= n;
      this.sendWindow -= n;
      off += n;
      if (last) {
        this.scheduleFlush();
        return undefined;
      }
    }
  }

  private drain(half: Half): void {
    const q = half.queue;
    if (!q || half.closed) return;
    while (q.length > 0) {
      const item = q[0]!;
      if ("block" in item) {
        this.emitHeaders(half, item.block, item.end);
        q.shift();
        continue;
      }
      const rest = this.emitData(half, item.data, item.end);
      if (rest !== undefined) {
        item.data = rest;
        return;
      }
      this.credit(item.source, item.credit);
      q.shift();
    }
    half.queue = undefined;
    if (half.localEnded) this.localEnd(half);
  }

  private localEnd(half: Half): void {
    half.localEnded = true;
    if (half.remoteEnded) this.forget(half);
  }

  /** Ends a stream with RST_STREAM; `notify` tells its owner (for resets the owner did not ask for). */
  resetStream(half: Half, code: number, notify = false): void {
    if (half.closed) return;
    this.forget(half);
    half.localEnded = half.remoteEnded = true;
    if (!this.closed) this.write(rstStreamFrame(half.id, code));
    if (notify) half.owner?.onReset(half, code);
  }

  private forget(half: Half): void {
    if (half.closed) return;
    half.closed = true;
    this.streams.delete(half.id);
    if (this.streams.size === 0) this.idleSince = Date.now();
    this.blocked.delete(half);
    // Bytes queued but never sent: their sources get the credit back, as if relayed.
    if (half.queue) {
      for (const item of half.queue) if ("data" in item && item.source) item.source.conn.consume(item.source, item.credit);
      half.queue = undefined;
    }
    // A draining connection ends with its last stream.
    this.endIfIdle();
  }

  /** Asks the peer for a sign of life (PING); `pingSentAt` is cleared when it answers. */
  ping(): void {
    if (this.closed || this.pingSentAt) return;
    this.pingSentAt = Date.now();
    this.write(frameHeader(8, FrameType.PING, 0, 0), KEEPALIVE_PING);
  }

  write(...bufs: Buffer[]): void {
    if (this.closed) return;
    for (const b of bufs) this.out.push(b);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // After the current socket read is fully processed: one write for everything it produced.
    process.nextTick(this.flush);
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    const out = this.out;
    if (out.length === 0 || this.socket.destroyed) return;
    this.out = [];
    let ok: boolean;
    if (out.length === 1) ok = this.socket.write(out[0]!);
    else {
      let total = 0;
      for (const b of out) total += b.length;
      if (total <= 32 << 10) ok = this.socket.write(Buffer.concat(out, total));
      else {
        this.socket.cork();
        ok = true;
        for (const b of out) ok = this.socket.write(b);
        this.socket.uncork();
      }
    }
    if (!ok) this.congested = true;
  };

  // ---- ending ----------------------------------------------------------------------------

  /** No new streams; the socket ends once the open ones are done. */
  shutdown(): void {
    if (this.closed) return;
    this.draining = true;
    if (!this.goawaySent) {
      this.goawaySent = true;
      this.write(goawayFrame(this.role === "server" ? this.lastPeerStreamId : 0, ErrorCode.NO_ERROR));
    }
    this.endIfIdle();
  }

  private endIfIdle(): void {
    if (this.draining && this.streams.size === 0 && !this.closed) {
      // After pending frames (the GOAWAY, the last trailers) are written.
      process.nextTick(() => {
        if (this.streams.size === 0 && !this.closed) {
          this.flush();
          this.socket.end();
        }
      });
    }
  }

  private fail(code: number, message: string, cause?: unknown): void {
    if (this.closed) return;
    this.out.push(goawayFrame(this.lastPeerStreamId, code, message.slice(0, 200)));
    this.flush();
    this.socket.end();
    this.destroy(Object.assign(new Error(message), { cause }));
  }

  /** Closes at once; every open stream hears CONNECTION_LOST. */
  destroy(err?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.draining = true;
    if (!this.socket.destroyed) {
      // Frames already produced (a GOAWAY) still go out.
      if (this.out.length) this.flush();
      this.socket.destroySoon();
    }
    // Credit held back for our congestion belongs to the sources' connections (a shared upstream
    // connection would otherwise lose that much window for good).
    this.onDrain();
    const halves = [...this.streams.values()];
    for (const h of halves) {
      this.forget(h);
      h.localEnded = h.remoteEnded = true;
      h.owner?.onReset(h, CONNECTION_LOST);
    }
    this.events.onClose?.(err);
  }
}

function listBytes(pairs: string[]): number {
  let n = 0;
  for (let i = 0; i < pairs.length; i++) n += pairs[i]!.length;
  return n + 16 * pairs.length;
}
