// Peers built from this repository's source (the BuildKit Go client): a missing one fails with
// the command that builds it, an edit to its source is a new cache entry (never a stale binary),
// and its BuildKit library must be the buildkitd peer's version.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, expect, it } from "vitest";
import { buildLocalPeer, localSourceDigest } from "../src/local-peer.ts";
import { peerPath, peerSpecs, REPO_ROOT, requirePeer, type PeerSpec } from "../src/peers.ts";

const made: string[] = [];
afterEach(async () => {
  for (const d of made.splice(0)) await rm(d, { recursive: true, force: true });
});

async function scratch(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "local-peer-"));
  made.push(dir);
  for (const [f, v] of Object.entries(files)) await writeFile(path.join(dir, f), v);
  return dir;
}

it("a missing buildkit-client names the command that builds it", async () => {
  const before = process.env.SATELLITES_PEERS_DIR;
  process.env.SATELLITES_PEERS_DIR = await scratch({});
  try {
    expect(peerPath("buildkit-client")).toBeUndefined();
    expect(() => requirePeer("buildkit-client")).toThrow("build it with: npm run peers -- buildkit-client");
  } finally {
    if (before === undefined) delete process.env.SATELLITES_PEERS_DIR;
    else process.env.SATELLITES_PEERS_DIR = before;
  }
});

it("the cache key follows the source: an edited file is a new digest", async () => {
  const dir = await scratch({ "go.mod": "module x\n", "main.go": "package main\n" });
  const spec: PeerSpec = { module: "x", version: "v1", build: "local", dir: path.relative(REPO_ROOT, dir), packages: ["."] };
  const first = localSourceDigest(spec);
  expect(localSourceDigest(spec)).toBe(first);
  await writeFile(path.join(dir, "main.go"), "package main\n\nfunc main() {}\n");
  expect(localSourceDigest(spec)).not.toBe(first);
});

it("the client's BuildKit library is pinned to the buildkitd peer's version, in go.mod and versions.json", async () => {
  const specs = peerSpecs();
  expect(specs["buildkit-client"]!.version).toBe(specs.buildkit!.version);
  const dir = await scratch({ "go.mod": "module x\n\nrequire github.com/moby/buildkit v0.23.0\n" });
  const spec: PeerSpec = { module: "x", version: specs.buildkit!.version, build: "local", dir: path.relative(REPO_ROOT, dir), pinnedBy: "buildkit", packages: ["."] };
  expect(() => buildLocalPeer(spec, dir)).toThrow(`both must be ${specs.buildkit!.version}`);
});

it("bench:wake's grpc-go satellite builds against the grpc-go the interop peer pins", async () => {
  const specs = peerSpecs();
  expect(specs["go-satellite"]).toMatchObject({ build: "local", pinnedBy: "grpc-interop", version: specs["grpc-interop"]!.version });
  const goMod = await readFile(path.join(REPO_ROOT, "peers/go-satellite/go.mod"), "utf8");
  expect(goMod).toContain(`google.golang.org/grpc ${specs["grpc-interop"]!.version}\n`);
});
