// A RUN step that fills the satellite's disk fails with its own exit code: BuildKit's answer to
// the Solve says "exit code: 1", and only the step's output (its stderr, streamed to the client
// in Control/Status answers) says "No space left on device". The proxy reads those answers as
// they pass — a byte search, nothing decoded, nothing changed — and marks the build the Status
// call names (its ref, build-ref.ts), so that the build, if it then fails, is shown as out of
// disk; a Status call whose ref could not be read marks every build on its connection.
import type { BuildRef } from "./build-ref.ts";

export const STATUS_PATH = "/moby.buildkit.v1.Control/Status";

/** What strerror(ENOSPC) says, as "No …" (glibc, musl, busybox) or "no …" (Go, Node). */
const WORDS = Buffer.from("o space left on device");
/** The longest prefix of WORDS a chunk can end with and still be the start of them. */
const CARRY = WORDS.length - 1;

/** What the steps' output on one client connection said of a full disk. */
export interface StepSignals {
  /** A Status call about build `ref` (undefined: not known) saw the words. */
  noteStepOutOfSpace(ref: string | undefined): void;
  /** When the words were last seen about build `ref` (or, with `ref` undefined, about any build). */
  stepOutOfSpaceAt(ref: string | undefined): number | undefined;
}

/** How many builds' marks a connection keeps: far more than run together on one. */
const REFS_KEPT = 64;

/** StepSignals for one connection. */
export class StepOutOfSpace implements StepSignals {
  private readonly byRef = new Map<string, number>();
  private unknownRef: number | undefined;

  noteStepOutOfSpace(ref: string | undefined): void {
    const now = Date.now();
    if (ref === undefined) {
      this.unknownRef = now;
      return;
    }
    this.byRef.delete(ref);
    this.byRef.set(ref, now);
    if (this.byRef.size > REFS_KEPT) this.byRef.delete(this.byRef.keys().next().value!);
  }

  stepOutOfSpaceAt(ref: string | undefined): number | undefined {
    // A build whose ref is not known: the latest words about any build (at most 64 kept).
    if (ref === undefined) {
      const latest = Math.max(this.unknownRef ?? -Infinity, ...this.byRef.values());
      return latest === -Infinity ? undefined : latest;
    }
    const own = this.byRef.get(ref);
    if (own === undefined) return this.unknownRef;
    return this.unknownRef === undefined ? own : Math.max(own, this.unknownRef);
  }
}

/** Watches one Status call's answer for the words, across DATA chunks; tells `signals` once. */
export class OutOfSpaceScan {
  private readonly tail = Buffer.alloc(CARRY * 2);
  private tailLength = 0;
  private found = false;

  constructor(
    private readonly signals: StepSignals,
    /** The Status call's ref, read from its request. */
    private readonly build?: BuildRef,
  ) {}

  scan(chunk: Buffer): void {
    if (this.found) return;
    if (chunk.indexOf(WORDS) !== -1 || this.spansBoundary(chunk)) {
      this.found = true;
      this.signals.noteStepOutOfSpace(this.build?.ref);
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
