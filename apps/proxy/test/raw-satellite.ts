// A satellite that writes its own HTTP/2 frames: it can answer with what node:http2's server
// would never send (a repeated single-value header, say), as a broken or hostile satellite can.
import net, { type AddressInfo } from "node:net";
import { F, frame, settings, T } from "./attacker.ts";

export interface RawSatellite {
  address: string;
  /** Streams the proxy opened on it. */
  streams: number[];
  /** RST_STREAM codes the proxy sent, by stream. */
  resets: Map<number, number>;
  close(): Promise<void>;
}

/** Acknowledges SETTINGS and PING; answers every request's HEADERS with the frames `answer` gives. */
export async function rawSatellite(answer: (stream: number) => Buffer): Promise<RawSatellite> {
  const streams: number[] = [];
  const resets = new Map<number, number>();
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    socket.write(settings());
    let buf = Buffer.alloc(0);
    let preface = false;
    socket.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (!preface) {
        if (buf.length < 24) return;
        buf = buf.subarray(24);
        preface = true;
      }
      while (buf.length >= 9) {
        const len = buf.readUIntBE(0, 3);
        if (buf.length < 9 + len) break;
        const [type, flags] = [buf[3]!, buf[4]!];
        const stream = buf.readUInt32BE(5) & 0x7fffffff;
        const payload = buf.subarray(9, 9 + len);
        buf = buf.subarray(9 + len);
        if (type === T.SETTINGS && !(flags & F.ACK)) socket.write(frame(T.SETTINGS, F.ACK, 0));
        if (type === T.PING && !(flags & F.ACK)) socket.write(frame(T.PING, F.ACK, 0, payload));
        if (type === T.RST_STREAM && payload.length >= 4) resets.set(stream, payload.readUInt32BE(0));
        if (type === T.HEADERS) {
          streams.push(stream);
          socket.write(answer(stream));
        }
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    streams,
    resets,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
