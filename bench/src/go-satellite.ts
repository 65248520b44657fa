// The grpc-go satellite for bench:wake: a local peer (peers/go-satellite), built by
// `npm run peers` from the module proxy against the grpc-go the interop peer pins.
import { requirePeer } from "@satellites/testing/peers";

/** The built satellite binary (run it with --host and --port), or an error naming the command that builds it. */
export function ensureGoSatellite(): string {
  return requirePeer("go-satellite");
}
