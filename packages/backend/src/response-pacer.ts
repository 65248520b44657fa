// Writes streamed interop responses in order, honouring each one's `interval_us` and the
// transport's backpressure, then ends the call with OK or the requested status. Cancellation
// drops whatever is queued and clears the pending timer, so an abandoned call holds nothing.
import type * as grpc from "@grpc/grpc-js";
import type {
  EchoStatus,
  ResponseParameters,
  StreamingOutputCallRequest,
  StreamingOutputCallResponse,
} from "./messages.ts";
import { requestedFailure, zeroPayload } from "./messages.ts";

type OutputCall =
  | grpc.ServerWritableStream<StreamingOutputCallRequest, StreamingOutputCallResponse>
  | grpc.ServerDuplexStream<StreamingOutputCallRequest, StreamingOutputCallResponse>;

export class ResponsePacer {
  private queue: ResponseParameters[] = [];
  private head = 0;
  /** The head response's interval has already been waited out. */
  private headDelayed = false;
  private timer: NodeJS.Timeout | undefined;
  private awaitingDrain = false;
  /** Set once the caller has said no more responses will be queued. */
  private ending: { status: EchoStatus | null | undefined } | undefined;
  private done = false;

  constructor(
    private readonly call: OutputCall,
    private readonly trailer: grpc.Metadata | undefined,
  ) {
    call.once("cancelled", this.cancel);
  }

  push(params: ResponseParameters[] | undefined): void {
    if (this.ending || this.done || !params?.length) return;
    for (const p of params) this.queue.push(p);
    this.pump();
  }

  /** Ends the call after everything queued so far: OK, or failing with `status` if it asks to. */
  finish(status?: EchoStatus | null): void {
    if (this.ending || this.done) return;
    this.ending = { status };
    this.pump();
  }

  private readonly cancel = (): void => {
    this.done = true;
    this.queue = [];
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.call.off("drain", this.onDrain);
  };

  private readonly onTimer = (): void => {
    this.timer = undefined;
    this.headDelayed = true;
    this.pump();
  };

  private readonly onDrain = (): void => {
    this.awaitingDrain = false;
    this.pump();
  };

  private pump(): void {
    if (this.done || this.timer || this.awaitingDrain) return;
    while (this.head < this.queue.length) {
      const next = this.queue[this.head] as ResponseParameters;
      const intervalUs = next.interval_us ?? 0;
      if (intervalUs > 0 && !this.headDelayed) {
        this.timer = setTimeout(this.onTimer, intervalUs / 1000);
        return;
      }
      this.head++;
      this.headDelayed = false;
      if (!this.call.write({ payload: zeroPayload(next.size) })) {
        this.awaitingDrain = true;
        this.call.once("drain", this.onDrain);
        return;
      }
    }
    // Everything queued is written: reset rather than grow forever on long duplex calls.
    this.queue = [];
    this.head = 0;
    if (!this.ending) return;
    this.done = true;
    this.call.off("cancelled", this.cancel);
    const failure = requestedFailure(this.ending.status);
    if (failure) {
      // grpc-js turns an emitted error into the call's status, after already-written messages.
      this.call.emit("error", { ...failure, metadata: this.trailer });
    } else {
      this.call.end(this.trailer);
    }
  }
}
