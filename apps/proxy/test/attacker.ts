// The attacker of attacks.test.ts: raw HTTP/2 frames over a net.Socket from a loopback address
// of its own (so per-address limits hit it, not the tenant on 127.0.0.1), and a minimal reader
// of what the proxy answers (GOAWAY and RST_STREAM codes, whether the socket closed).
import net from "node:net";

export const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
export const T = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;
export const F = { END_STREAM: 1, ACK: 1, END_HEADERS: 4 } as const;

export function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream & 0x7fffffff, 5);
  return Buffer.concat([h, payload]);
}

export function settings(entries: Array<[number, number]> = []): Buffer {
  const p = Buffer.alloc(entries.length * 6);
  entries.forEach(([id, v], i) => {
    p.writeUInt16BE(id, i * 6);
    p.writeUInt32BE(v, i * 6 + 2);
  });
  return frame(T.SETTINGS, 0, 0, p);
}

export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

/** HPACK integer with an n-bit prefix (RFC 7541 §5.1). */
function hpackInt(value: number, prefixBits: number, first: number): number[] {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [first | value];
  const out = [first | max];
  let v = value - max;
  while (v >= 128) {
    out.push((v % 128) + 128);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

/** A literal field (without indexing, or with incremental indexing), new name, no Huffman. */
export function literal(name: string, value: string | Buffer, index = false): Buffer {
  const n = Buffer.from(name, "latin1");
  const v = typeof value === "string" ? Buffer.from(value, "latin1") : value;
  return Buffer.concat([Buffer.from(index ? [0x40] : [0x00]), Buffer.from(hpackInt(n.length, 7, 0)), n, Buffer.from(hpackInt(v.length, 7, 0)), v]);
}

/** An indexed field (static or dynamic table index). */
export function indexed(i: number): Buffer {
  return Buffer.from(hpackInt(i, 7, 0x80));
}

/** The header block of a gRPC request (POST, http, given path) with extra literal fields. */
export function grpcRequestBlock(path: string, extra: Record<string, string> = {}): Buffer {
  // Static table: 3 = :method POST, 6 = :scheme http.
  return Buffer.concat([indexed(3), indexed(6), literal(":path", path), literal(":authority", "attacker"), literal("content-type", "application/grpc"), literal("te", "trailers"), ...Object.entries(extra).map(([k, v]) => literal(k, v))]);
}

export interface Answer {
  goaway?: number;
  resets: Map<number, number>;
  closed: boolean;
  bytes: number;
}

export interface Attacker {
  socket: net.Socket;
  answer: Answer;
  write(b: Buffer): boolean;
  /** Resolves once the proxy has closed the socket (or after `ms`). */
  closed(ms: number): Promise<boolean>;
}

/** Connects from `localAddress`; reads and parses what comes back unless `read` is false. */
export function attack(port: number, localAddress: string, opts: { read?: boolean } = {}): Promise<Attacker> {
  return observe(net.connect({ host: "127.0.0.1", port, localAddress }), "connect", opts);
}

/** An attacker on a socket being connected (`ready`: the event that says it is: "connect", "secureConnect"). */
export function observe(socket: net.Socket, ready: string, opts: { read?: boolean } = {}): Promise<Attacker> {
  return new Promise((resolve, reject) => {
    const answer: Answer = { resets: new Map(), closed: false, bytes: 0 };
    let buf: Buffer = Buffer.alloc(0);
    socket.on("error", () => {});
    const done = new Promise<void>((r) => socket.on("close", () => {
      answer.closed = true;
      r();
    }));
    if (opts.read !== false) {
      socket.on("data", (d: Buffer) => {
        answer.bytes += d.length;
        buf = buf.length ? Buffer.concat([buf, d]) : d;
        while (buf.length >= 9) {
          const len = buf.readUIntBE(0, 3);
          if (buf.length < 9 + len) break;
          const type = buf[3]!;
          const stream = buf.readUInt32BE(5) & 0x7fffffff;
          const p = buf.subarray(9, 9 + len);
          if (type === T.GOAWAY && p.length >= 8) answer.goaway = p.readUInt32BE(4);
          if (type === T.RST_STREAM && p.length >= 4) answer.resets.set(stream, p.readUInt32BE(0));
          buf = buf.subarray(9 + len);
        }
      });
    } else {
      socket.pause();
    }
    socket.once(ready, () =>
      resolve({
        socket,
        answer,
        write: (b) => (socket.destroyed ? false : socket.write(b)),
        closed: (ms) => Promise.race([done.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(answer.closed), ms))]),
      }),
    );
    socket.once("error", reject);
  });
}

/**
 * Uploads as a client busy writing does, reading nothing meanwhile: 256 `chunk`s (4 MiB of 16 KiB
 * DATA frames), then 64 more 200 ms later; then it reads again.
 */
export async function uploadReadingLate(a: Attacker, chunk: Buffer): Promise<void> {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  a.socket.pause();
  for (let i = 0; i < 256; i++) a.write(chunk);
  await sleep(200);
  for (let i = 0; i < 64; i++) a.write(chunk);
  await sleep(50);
  a.socket.resume();
}
