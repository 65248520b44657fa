// Peers whose source lives in this repository (build "local" in peers/versions.json), e.g. the
// BuildKit client that sends the satellite metadata itself. They are built like the others, from
// the module proxy into the per-machine cache, but keyed by a digest of their source files too:
// an edit to the client is a new cache entry, so no test runs a stale binary.
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { goEnv, peerSpecs, REPO_ROOT, type PeerSpec } from "./peers.ts";
import { goModVersion } from "./peer-builders.ts";

/** Every file of the folder (recursively), sorted, as paths relative to it. */
function sourceFiles(dir: string, prefix = ""): string[] {
  return readdirSync(path.join(dir, prefix), { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? sourceFiles(dir, path.join(prefix, e.name)) : [path.join(prefix, e.name)]))
    .sort();
}

/** The first 12 hex digits of a digest over the local peer's file names and contents. */
export function localSourceDigest(spec: PeerSpec): string {
  const dir = path.join(REPO_ROOT, spec.dir!);
  const h = createHash("sha256");
  for (const f of sourceFiles(dir)) h.update(`${f}\0`).update(readFileSync(path.join(dir, f))).update("\0");
  return h.digest("hex").slice(0, 12);
}

/** The library version the local module builds against must be the pinned peer's (`pinnedBy`). */
function checkPin(spec: PeerSpec, goMod: string): void {
  const pinned = spec.pinnedBy ? peerSpecs()[spec.pinnedBy] : undefined;
  if (!pinned) return;
  const required = goModVersion(goMod, pinned.module);
  if (required !== pinned.version || spec.version !== pinned.version) {
    throw new Error(`${spec.dir}/go.mod requires ${pinned.module} ${required ?? "(none)"} and versions.json says ${spec.version}; both must be ${pinned.version}, the ${spec.pinnedBy} peer's`);
  }
}

export function buildLocalPeer(spec: PeerSpec, dir: string): void {
  const src = path.join(REPO_ROOT, spec.dir!);
  checkPin(spec, readFileSync(path.join(src, "go.mod"), "utf8"));
  for (const p of spec.packages) {
    // -mod=readonly: the committed go.sum decides every dependency; the build never edits it.
    execFileSync("nice", ["-n", "10", "go", "build", "-mod=readonly", "-o", path.join(dir, "bin", p.split("/").pop()!), `./${p}`], { stdio: "inherit", env: goEnv(dir), cwd: src });
  }
}
