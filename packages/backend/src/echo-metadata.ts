// The interop "custom_metadata" contract: whatever the client sends in these two headers comes
// back, the first as initial metadata and the second as trailing metadata.
import { Metadata } from "@grpc/grpc-js";

const ECHO_INITIAL = "x-grpc-test-echo-initial";
const ECHO_TRAILING = "x-grpc-test-echo-trailing-bin";

interface CallWithMetadata {
  readonly metadata: Metadata;
  sendMetadata(md: Metadata): void;
}

/**
 * Sends the echoed initial metadata right away (only if asked for: otherwise grpc-js sends its
 * default headers with the first message) and returns the trailers to end the call with.
 */
export function echoMetadata(call: CallWithMetadata): Metadata | undefined {
  const initial = call.metadata.get(ECHO_INITIAL);
  if (initial.length > 0) {
    const md = new Metadata();
    for (const v of initial) md.add(ECHO_INITIAL, v);
    call.sendMetadata(md);
  }
  const trailing = call.metadata.get(ECHO_TRAILING);
  if (trailing.length === 0) return undefined;
  const md = new Metadata();
  for (const v of trailing) md.add(ECHO_TRAILING, v);
  return md;
}
