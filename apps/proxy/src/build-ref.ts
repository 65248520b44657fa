// Which build a Solve or a Status call is about: BuildKit's client gives both the same `ref`,
// field 1 of SolveRequest and StatusRequest (control.proto). The proxy reads it from the call's
// first message as it passes, with protobufjs's reader, and changes nothing; builds run together
// on one connection (`docker buildx bake`) are told apart by it.
import protobuf from "protobufjs/minimal.js";

/** gRPC's message prefix: a compressed flag and a 4-byte length. */
const PREFIX = 5;
/** How much of the first message is read for the ref: field 1 comes first; a ref is an id of 20–40 characters. */
const HEAD_MAX = 512;
const REF_MAX = 128;
const REF_FIELD = 1;
const LENGTH_DELIMITED = 2;

export class BuildRef {
  /** The call's ref, once read; undefined while unknown, and for good when it cannot be read. */
  ref: string | undefined;
  private head: Buffer | undefined;
  private settled = false;

  /** The client's DATA, in order: only its first bytes are looked at. */
  feed(chunk: Buffer): void {
    if (this.settled) return;
    const head = this.head ? Buffer.concat([this.head, chunk]) : chunk;
    const outcome = readRef(head);
    if (outcome === "more" && head.length < PREFIX + HEAD_MAX) {
      // Copied: a slice would keep the whole chunk alive.
      this.head = Buffer.from(head);
      return;
    }
    this.settled = true;
    this.head = undefined;
    if (typeof outcome === "string") this.ref = outcome;
  }
}

/** The ref of the message `head` begins, "more" when it is cut short, null when it has none to read. */
function readRef(head: Buffer): string | "more" | null {
  if (head.length < PREFIX) return "more";
  // Compressed (grpc-encoding): not read.
  if (head[0] !== 0) return null;
  const wanted = Math.min(head.readUInt32BE(1), HEAD_MAX);
  const body = head.subarray(PREFIX, PREFIX + wanted);
  /** What to say when the ref is not (all) in what has come: wait for more, or give up. */
  const short = body.length < wanted ? "more" : null;
  const reader = protobuf.Reader.create(body);
  try {
    while (reader.pos < reader.len) {
      const tag = reader.uint32();
      if (tag >>> 3 === REF_FIELD && (tag & 7) === LENGTH_DELIMITED) {
        const n = reader.uint32();
        // Checked here: a Buffer-backed reader returns a string cut short without a word.
        if (reader.pos + n > reader.len) return short;
        return n > 0 && n <= REF_MAX ? body.toString("utf8", reader.pos, reader.pos + n) : null;
      }
      reader.skipType(tag & 7);
    }
    return short;
  } catch {
    // Past what has come so far; or not a message at all.
    return short;
  }
}
