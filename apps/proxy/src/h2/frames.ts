// HTTP/2 framing (RFC 9113 §4, §6): the 9-byte frame header, a reader that cuts socket reads
// into frames without copying payloads, and builders for the control frames the proxy sends.

export const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

export const FrameType = {
  DATA: 0,
  HEADERS: 1,
  PRIORITY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PUSH_PROMISE: 5,
  PING: 6,
  GOAWAY: 7,
  WINDOW_UPDATE: 8,
  CONTINUATION: 9,
} as const;

export const Flag = {
  END_STREAM: 0x1,
  ACK: 0x1,
  END_HEADERS: 0x4,
  PADDED: 0x8,
  PRIORITY: 0x20,
} as const;

export const ErrorCode = {
  NO_ERROR: 0,
  PROTOCOL_ERROR: 1,
  INTERNAL_ERROR: 2,
  FLOW_CONTROL_ERROR: 3,
  STREAM_CLOSED: 5,
  FRAME_SIZE_ERROR: 6,
  REFUSED_STREAM: 7,
  CANCEL: 8,
  COMPRESSION_ERROR: 9,
  ENHANCE_YOUR_CALM: 11,
} as const;

export const Setting = {
  HEADER_TABLE_SIZE: 1,
  ENABLE_PUSH: 2,
  MAX_CONCURRENT_STREAMS: 3,
  INITIAL_WINDOW_SIZE: 4,
  MAX_FRAME_SIZE: 5,
  MAX_HEADER_LIST_SIZE: 6,
} as const;

export const DEFAULT_WINDOW = 65_535;
export const DEFAULT_MAX_FRAME = 16_384;
export const MAX_WINDOW = 0x7fff_ffff;

/** A protocol violation that ends the whole connection (GOAWAY with `code`). */
export class ConnectionError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

function writeHeader(out: Buffer, length: number, type: number, flags: number, streamId: number): void {
  out[0] = (length >>> 16) & 0xff;
  out[1] = (length >>> 8) & 0xff;
  out[2] = length & 0xff;
  out[3] = type;
  out[4] = flags;
  out.writeUInt32BE(streamId & MAX_WINDOW, 5);
}

export function frameHeader(length: number, type: number, flags: number, streamId: number): Buffer {
  const h = Buffer.allocUnsafe(9);
  writeHeader(h, length, type, flags, streamId);
  return h;
}

export function frame(type: number, flags: number, streamId: number, payload?: Buffer): Buffer {
  const len = payload ? payload.length : 0;
  const out = Buffer.allocUnsafe(9 + len);
  writeHeader(out, len, type, flags, streamId);
  if (payload) payload.copy(out, 9);
  return out;
}

export function settingsFrame(values: ReadonlyArray<readonly [number, number]>): Buffer {
  const p = Buffer.allocUnsafe(values.length * 6);
  values.forEach(([id, v], i) => {
    p.writeUInt16BE(id, i * 6);
    p.writeUInt32BE(v >>> 0, i * 6 + 2);
  });
  return frame(FrameType.SETTINGS, 0, 0, p);
}

export const SETTINGS_ACK = frame(FrameType.SETTINGS, Flag.ACK, 0);

/** A frame whose payload is one 32-bit value (WINDOW_UPDATE's increment, RST_STREAM's code). */
function u32Frame(type: number, streamId: number, value: number): Buffer {
  const out = Buffer.allocUnsafe(13);
  writeHeader(out, 4, type, 0, streamId);
  out.writeUInt32BE(value >>> 0, 9);
  return out;
}

export function windowUpdateFrame(streamId: number, increment: number): Buffer {
  return u32Frame(FrameType.WINDOW_UPDATE, streamId, increment);
}

export function rstStreamFrame(streamId: number, code: number): Buffer {
  return u32Frame(FrameType.RST_STREAM, streamId, code);
}

export function goawayFrame(lastStreamId: number, code: number, debug = ""): Buffer {
  const d = Buffer.from(debug, "utf8");
  const p = Buffer.allocUnsafe(8 + d.length);
  p.writeUInt32BE(lastStreamId, 0);
  p.writeUInt32BE(code >>> 0, 4);
  d.copy(p, 8);
  return frame(FrameType.GOAWAY, 0, 0, p);
}

/**
 * A header block as HEADERS plus CONTINUATION frames of at most `maxFrame` bytes each.
 * Returned as pieces (frame header, block slice, …) for a vectored write, never copied.
 */
export function headerFrames(out: Buffer[], streamId: number, block: Buffer, endStream: boolean, maxFrame: number): void {
  if (block.length <= maxFrame) {
    out.push(frameHeader(block.length, FrameType.HEADERS, Flag.END_HEADERS | (endStream ? Flag.END_STREAM : 0), streamId), block);
    return;
  }
  let off = 0;
  let first = true;
  while (off < block.length) {
    const n = Math.min(maxFrame, block.length - off);
    const last = off + n >= block.length;
    const type = first ? FrameType.HEADERS : FrameType.CONTINUATION;
    const flags = (last ? Flag.END_HEADERS : 0) | (first && endStream ? Flag.END_STREAM : 0);
    out.push(frameHeader(n, type, flags, streamId), block.subarray(off, off + n));
    off += n;
    first = false;
  }
}

export interface Frame {
  type: number;
  flags: number;
  streamId: number;
  /** A view into the socket's read buffer (never reused by Node), valid after the callback. */
  payload: Buffer;
}

/**
 * Cuts a byte stream into frames. Payloads are views into the read buffers; only a frame split
 * across two reads is copied together.
 */
export class FrameReader {
  private pending: Buffer | undefined;

  constructor(private readonly maxFrame: number) {}

  /** Calls `onFrame` for every complete frame in `chunk` (plus what was left over before). */
  push(chunk: Buffer, onFrame: (type: number, flags: number, streamId: number, payload: Buffer) => void): void {
    let buf = chunk;
    const p0 = this.pending;
    if (p0 && p0.buffer === chunk.buffer && p0.byteOffset + p0.length === chunk.byteOffset) {
      // Reads into one slab (see ReadSlab) lie side by side: a straddling frame is one view.
      this.pending = undefined;
      buf = Buffer.from(chunk.buffer, p0.byteOffset, p0.length + chunk.length);
    } else if (this.pending) {
      // Complete only the frame that straddles the reads; the rest of `chunk` is read in place.
      const p = this.pending;
      let need = 9 - p.length;
      if (need > 0) {
        if (chunk.length < need) {
          this.pending = Buffer.concat([p, chunk]);
          return;
        }
        this.pending = Buffer.concat([p, chunk.subarray(0, need)]);
        this.push(chunk.subarray(need), onFrame);
        return;
      }
      const len = (p[0]! << 16) | (p[1]! << 8) | p[2]!;
      if (len > this.maxFrame) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, `frame of ${len} bytes exceeds the ${this.maxFrame}-byte limit`);
      need = 9 + len - p.length;
      if (chunk.length < need) {
        this.pending = Buffer.concat([p, chunk]);
        return;
      }
      this.pending = undefined;
      const whole = Buffer.concat([p, chunk.subarray(0, need)]);
      onFrame(whole[3]!, whole[4]!, whole.readUInt32BE(5) & MAX_WINDOW, whole.subarray(9));
      buf = chunk.subarray(need);
    }
    let off = 0;
    const end = buf.length;
    while (end - off >= 9) {
      const len = (buf[off]! << 16) | (buf[off + 1]! << 8) | buf[off + 2]!;
      if (len > this.maxFrame) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, `frame of ${len} bytes exceeds the ${this.maxFrame}-byte limit`);
      if (end - off < 9 + len) break;
      const type = buf[off + 3]!;
      const flags = buf[off + 4]!;
      const streamId = buf.readUInt32BE(off + 5) & MAX_WINDOW;
      onFrame(type, flags, streamId, buf.subarray(off + 9, off + 9 + len));
      off += 9 + len;
    }
    if (off < end) this.pending = off === 0 ? buf : buf.subarray(off);
  }
}

/** A DATA or HEADERS payload without its padding (and HEADERS' priority fields). */
export function unpad(flags: number, payload: Buffer, priority: boolean): Buffer {
  let start = 0;
  let end = payload.length;
  if (flags & Flag.PADDED) {
    if (payload.length < 1) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "padded frame without a pad length");
    const pad = payload[0]!;
    start = 1;
    end -= pad;
  }
  if (priority && flags & Flag.PRIORITY) start += 5;
  if (end < start) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "padding exceeds the frame");
  return start === 0 && end === payload.length ? payload : payload.subarray(start, end);
}

/**
 * Read buffers for `net.connect({ onread })`: each socket read lands right after the previous one
 * in a slab, so a frame split across two reads is one contiguous view, joined without a copy.
 * The slab grows while reads fill what they are offered (bulk downloads: up to 256 KiB per read
 * instead of libuv's 64 KiB, a quarter of the reads and callbacks) and shrinks back once reads
 * are small, so an idle connection holds 16 KiB. A slab is never written twice; the GC frees it
 * once nothing relayed from it is still queued.
 */
export class ReadSlab {
  private slab = Buffer.allocUnsafeSlow(0);
  private off = 0;
  private size: number;
  private last = 0;
  private filled = false;

  constructor(
    private readonly minSize = 16 << 10,
    private readonly maxSize = 256 << 10,
  ) {
    this.size = minSize;
  }

  /** The region the next read goes to. */
  readonly next = (): Buffer => {
    // A small remainder is still offered: a read that fills it makes the next slab larger.
    let fresh = this.slab.length - this.off < this.minSize >>> 2;
    if (this.filled && this.size < this.maxSize) {
      this.size = Math.min(this.size * 2, this.maxSize);
      fresh = true;
    } else if (!this.filled && this.last < this.minSize && this.slab.length > this.minSize) {
      // Traffic is small again: let a large slab go rather than hold it while idle.
      this.size = this.minSize;
      fresh = true;
    }
    if (fresh) {
      this.slab = Buffer.allocUnsafeSlow(this.size);
      this.off = 0;
    }
    return this.slab.subarray(this.off);
  };

  /** `n` bytes were read into `region` (what `next` returned): they are the caller's now. */
  take(region: Uint8Array, n: number): Buffer {
    this.off += n;
    this.last = n;
    this.filled = n === region.length;
    return Buffer.from(region.buffer, region.byteOffset, n);
  }
}
