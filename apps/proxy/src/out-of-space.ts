// A RUN step that fills the satellite's disk fails with its own exit code: BuildKit's answer to
// the Solve says "exit code: 1", and only the step's output (its stderr, streamed to the client
// in Control/Status answers) says "No space left on device". The proxy reads those answers as
// they pass — a byte search, nothing decoded, nothing changed — and marks the client's
// connection, so that a build on it that then fails is shown as out of disk.

export const STATUS_PATH = "/moby.buildkit.v1.Control/Status";

/** What strerror(ENOSPC) says, as "No …" (glibc, musl, busybox) or "no …" (Go, Node). */
const WORDS = Buffer.from("o space left on device");
/** The longest prefix of WORDS a chunk can end with and still be the start of them. */
const CARRY = WORDS.length - 1;

/** When a step's output on a connection last said its disk was full. */
export interface StepSignals {
  stepOutOfSpaceAt: number | undefined;
}

/** Watches one Status call's answer for the words, across DATA chunks; tells `signals` once. */
export class OutOfSpaceScan {
  private readonly tail = Buffer.alloc(CARRY * 2);
  private tailLength = 0;
  private found = false;

  constructor(private readonly signals: StepSignals) {}

  scan(chunk: Buffer): void {
    if (this.found) return;
    if (chunk.indexOf(WORDS) !== -1 || this.spansBoundary(chunk)) {
      this.found = true;
      this.signals.stepOutOfSpaceAt = Date.now();
      return;
    }
    this.keepTail(chunk);
  }

  /** The words begun at the end of what came before and ended in this chunk. */
  private spansBoundary(chunk: Buffer): boolean {
    if (this.tailLength === 0) return false;
    const head = Math.min(chunk.length, CARRY);
    chunk.copy(this.tail, this.tailLength, 0, head);
    return this.tail.subarray(0, this.tailLength + head).indexOf(WORDS) !== -1;
  }

  /** The last CARRY bytes seen, copied (a slice would keep the whole chunk alive). */
  private keepTail(chunk: Buffer): void {
    if (chunk.length >= CARRY) {
      chunk.copy(this.tail, 0, chunk.length - CARRY);
      this.tailLength = CARRY;
      return;
    }
    // A short chunk: appended to what is kept, then cut to the last CARRY bytes.
    chunk.copy(this.tail, this.tailLength);
    const total = this.tailLength + chunk.length;
    const from = Math.max(0, total - CARRY);
    this.tail.copy(this.tail, 0, from, total);
    this.tailLength = total - from;
  }
}
