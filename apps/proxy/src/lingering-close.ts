// A lingering close (nginx's `lingering_close`; RFC 9112 §9.6): when the proxy ends a client
// connection, its last frames (the GOAWAY saying why) are written and the write side shut, but
// the client may still be sending — a pipelined upload, the rest of an oversized header block.
// Closing the socket over bytes not yet read makes the kernel answer with a TCP reset; a client
// still writing then fails with EPIPE or "connection reset" and loses the GOAWAY it had not read.
// So the socket stays open a moment longer, reading and dropping, until the client closes its
// side too, or the time or the bytes allowed run out (a flood is not read for long).
import type { Socket } from "node:net";

export interface Lingering {
  /** Longest a connection the proxy has ended keeps reading what its client still sends. */
  ms: number;
  /** Most bytes it reads meanwhile. */
  maxBytes: number;
}

export const LINGERING: Lingering = { ms: 1_000, maxBytes: 8 << 20 };

/** How often the bytes read while lingering are looked at (node:http2 reads them natively). */
const CHECK_MS = 20;

const LINGERS = Symbol("satellites.lingers");

/**
 * Makes `socket.destroy()` linger while the client's side is open. A socket that failed (reset
 * by the client, a TLS error), or whose client already ended, closes at once. Once per socket.
 */
export function lingerOnClose(socket: Socket & { [LINGERS]?: true }, bounds: Lingering = LINGERING): void {
  if (socket[LINGERS]) return;
  socket[LINGERS] = true;
  const destroy = socket.destroy.bind(socket);
  let lingering = false;
  socket.destroy = (err?: Error): Socket => {
    const failed = socket.errored || (err as NodeJS.ErrnoException | undefined)?.syscall !== undefined;
    if (lingering || failed || socket.destroyed || socket.readableEnded) return destroy(err);
    // The error that ended the connection was reported where it happened; the close comes later.
    lingering = true;
    const start = socket.bytesRead;
    const until = Date.now() + bounds.ms;
    const check = setInterval(() => {
      if (Date.now() >= until || socket.bytesRead - start > bounds.maxBytes) done();
    }, CHECK_MS);
    check.unref();
    function done(): void {
      clearInterval(check);
      destroy();
    }
    socket.once("end", done);
    socket.once("error", done);
    // Flowing, so that what arrives is read (by node:http2's native reader, or here) and dropped.
    socket.on("data", () => {});
    socket.resume();
    return socket;
  };
}
