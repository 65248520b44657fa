// Builders for peers that neither `go install MODULE@VERSION` nor a vendored build of the
// downloaded module can make (e.g. a module whose go.mod has relative `replace` lines).
// Each gets its spec from peers/versions.json and the folder to fill: binaries go in DIR/bin.
import type { PeerSpec } from "./peers.ts";

export const customBuilders: Record<string, (spec: PeerSpec, dir: string) => void> = {};
