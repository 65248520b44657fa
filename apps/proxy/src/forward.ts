// One call between the client's stream and a stream to the satellite. It knows nothing of
// services or messages: request headers are re-encoded (the director changed them), response
// header blocks and DATA payloads are relayed as they came, resets travel both ways. The
// director has already decided where; until it has, the client's first bytes wait here.
import { CONNECTION_LOST, type Connection, type Half, type StreamOwner } from "./h2/connection.ts";
import { ErrorCode } from "./h2/frames.ts";
import { encodeHeaders } from "./h2/hpack.ts";
import { encodeGrpcMessage, Status } from "./grpc.ts";

export interface ForwardHooks {
  /** Bytes of DATA from the client to the satellite. */
  sent(bytes: number): void;
  /** Bytes of DATA from the satellite to the client. */
  received(bytes: number): void;
  /** Once, when the call is over: its gRPC status, or "reset" when it ended in RST_STREAM. */
  done(outcome: number | "reset"): void;
}

const EMPTY = Buffer.alloc(0);

/** A trailers-only answer (or trailers after a response began) carrying the proxy's own status. */
function statusBlock(code: number, message: string, withHeaders: boolean): Buffer {
  const fields = ["grpc-status", String(code), "grpc-message", encodeGrpcMessage(message)];
  return encodeHeaders(withHeaders ? [":status", "200", "content-type", "application/grpc", ...fields] : fields);
}

function grpcStatusOf(pairs: string[]): number {
  for (let i = 0; i + 1 < pairs.length; i += 2) {
    if (pairs[i] === "grpc-status") {
      const n = Number(pairs[i + 1]);
      return Number.isInteger(n) ? n : Status.UNKNOWN;
    }
  }
  return Status.UNKNOWN;
}

function failWithoutStatus(call: Call): void {
  call.fail(Status.INTERNAL, "satellite ended the call without a status");
}

interface Early {
  data: Buffer;
  frameLength: number;
  end: boolean;
}

export class Call implements StreamOwner {
  up: Half | undefined;
  /** Client DATA that arrived before the call was forwarded (bounded by the stream window). */
  private early: Early[] | undefined = [];
  private clientEnded: boolean;
  private responded = false;
  private finished = false;
  private hooks: ForwardHooks | undefined;
  /** Told when the client goes away before the call is forwarded or answered. */
  onClientGone: (() => void) | undefined;

  constructor(
    readonly down: Half,
    clientEnded: boolean,
  ) {
    this.clientEnded = clientEnded;
  }

  /** The client reset or disconnected (before forwarding, nothing else closes its stream). */
  get clientGone(): boolean {
    return this.down.closed;
  }

  /** Opens the upstream stream on `conn` with `headers` (raw pairs) and sends what waited. */
  forward(conn: Connection, headers: string[], hooks: ForwardHooks): void {
    this.hooks = hooks;
    const up = conn.open(this);
    this.up = up;
    const early = this.early ?? [];
    this.early = undefined;
    conn.sendHeaders(up, encodeHeaders(headers), this.clientEnded && early.length === 0);
    let ended = early.length === 0;
    for (const e of early) {
      hooks.sent(e.data.length);
      conn.sendData(up, e.data, e.end, this.down, e.frameLength);
      ended = e.end;
    }
    // The client ended with a trailers block rather than a flagged DATA frame.
    if (this.clientEnded && !ended) conn.sendData(up, EMPTY, true);
  }

  /** Ends the call with the proxy's own status, before any response. */
  answer(code: number, message: string): void {
    this.answerWith(statusBlock(code, message, true));
  }

  /** Answers with a bare HTTP status (not a gRPC call at all). */
  answerHttp(status: number): void {
    this.answerWith(encodeHeaders([":status", String(status)]));
  }

  /**
   * The proxy's own final headers. A client still sending is then told to stop (as gRPC servers
   * do) rather than read in vain.
   */
  private answerWith(block: Buffer): void {
    this.finished = true;
    this.discardEarly();
    const d = this.down;
    if (d.closed) return;
    d.conn.sendHeaders(d, block, true);
    if (!d.closed && !d.remoteEnded) d.conn.resetStream(d, ErrorCode.NO_ERROR);
  }

  private discardEarly(): void {
    const early = this.early;
    this.early = undefined;
    if (early) for (const e of early) this.down.conn.consume(this.down, e.frameLength);
  }

  private finish(outcome: number | "reset"): void {
    if (this.finished) return;
    this.finished = true;
    this.hooks?.done(outcome);
  }

  onHeaders(half: Half, pairs: string[], block: Buffer, endStream: boolean): void {
    const d = this.down;
    if (half === d) {
      // Client trailers (gRPC clients send none, but HTTP/2 allows them).
      if (this.up) this.up.conn.sendHeaders(this.up, encodeHeaders(pairs), endStream);
      else if (endStream) this.clientEnded = true;
      return;
    }
    if (!this.responded) {
      this.responded = true;
      // Sent on at once: the client sees response headers as soon as the satellite sends them.
      d.conn.sendHeaders(d, block, endStream);
      // Trailers-only: the status is in these headers, and so it stays.
      if (endStream) this.finish(grpcStatusOf(pairs));
      return;
    }
    d.conn.sendHeaders(d, block, true);
    this.finish(grpcStatusOf(pairs));
  }

  onData(half: Half, data: Buffer, frameLength: number, endStream: boolean, frame: Buffer | undefined): void {
    const d = this.down;
    if (half === d) {
      const up = this.up;
      if (up) {
        this.hooks!.sent(data.length);
        up.conn.sendData(up, data, endStream, half, frameLength, frame);
      } else if (this.early) {
        this.early.push({ data, frameLength, end: endStream });
        if (endStream) this.clientEnded = true;
      } else {
        half.conn.consume(half, frameLength);
      }
      return;
    }
    if (!this.responded) {
      // DATA before response headers breaks the protocol; the client must not see it.
      half.conn.consume(half, frameLength);
      half.conn.resetStream(half, ErrorCode.PROTOCOL_ERROR);
      this.fail(Status.UNAVAILABLE, "satellite answered without headers");
      return;
    }
    this.hooks!.received(data.length);
    d.conn.sendData(d, data, false, half, frameLength, endStream ? undefined : frame);
    if (endStream) {
      // The upstream closed its side without a status: that is not a success — unless a reset
      // follows (Node ends a stream before resetting it), which then reaches the client instead.
      setImmediate(failWithoutStatus, this);
    }
  }

  onReset(half: Half, code: number): void {
    const d = this.down;
    if (half === d) {
      // The client reset (or its connection died): the upstream hears it as CANCEL, or as the
      // client's own error code.
      const up = this.up;
      if (up && !up.closed) up.conn.resetStream(up, code > 0 ? code : ErrorCode.CANCEL);
      this.discardEarly();
      this.onClientGone?.();
      this.finish("reset");
      return;
    }
    if (code === CONNECTION_LOST) return this.fail(Status.UNAVAILABLE, "lost the connection to the satellite");
    if (code === ErrorCode.NO_ERROR) {
      // After a complete response: the satellite wants no more request bytes; pass that on
      // once everything before it has reached the client.
      if (this.finished) {
        if (!d.closed && !d.remoteEnded && !d.queue) d.conn.resetStream(d, ErrorCode.NO_ERROR);
        return;
      }
      return this.fail(this.responded ? Status.INTERNAL : Status.UNAVAILABLE, this.responded ? "satellite ended the call without a status" : "satellite closed the call without answering");
    }
    // A reset from the satellite reaches the client as the same reset.
    if (!d.closed) d.conn.resetStream(d, code);
    this.finish("reset");
  }

  /** Ends the client's call with the proxy's status: trailers-only, or trailers after the response. */
  fail(code: number, message: string): void {
    if (this.finished) return;
    const d = this.down;
    if (!d.closed) d.conn.sendHeaders(d, statusBlock(code, message, !this.responded), true);
    this.finish(code);
  }
}
