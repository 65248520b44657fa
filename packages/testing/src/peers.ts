// Real third-party programs the tests run against (h2spec, the grpc-go interop client,
// BuildKit, …, and Node 22 as a second runtime), pinned in peers/versions.json and built once per
// machine from the Go module proxy (Node from the npm registry) into a cache outside the work
// tree, so a fresh clone on the same machine reuses them.
// `npm run peers` (and `npm test`, before anything else) builds what is missing; a test asks
// for a peer with requirePeer() and fails with the command that builds it when it is absent.
import { execFileSync } from "node:child_process";
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { customBuilders } from "./peer-builders.ts";
import { buildLocalPeer, localSourceDigest } from "./local-peer.ts";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

export interface PeerSpec {
  module: string;
  version: string;
  /** install: `go install MODULE/PKG@VERSION`; module: download the module and build inside it as the main
   *  module (its replace/exclude lines apply; module zips carry no vendor/); source: keep the module's files
   *  (in DIR/src, for tests that read them, e.g. .proto definitions); custom: peer-builders.ts;
   *  local: a Go module in this repository (`dir`), built with its committed go.sum (local-peer.ts);
   *  npm: a package from the npm registry (`module` is its name) whose bin/ holds the program, checked
   *  against `integrity`. */
  build: "install" | "module" | "source" | "custom" | "local" | "npm";
  packages: string[];
  /** custom builders only: versions of the nested modules a go.mod's relative replace lines point at. */
  nested?: Record<string, string>;
  /** source peers only: another peer whose go.sum vouches for this module. Some pseudo-versions are absent
   *  from sum.golang.org (404), so they verify against the checksums of the module that requires them. */
  sumsFrom?: string;
  /** local peers only: the module's folder, relative to the repository root. */
  dir?: string;
  /** local peers only: the peer whose module version the local module must build against. */
  pinnedBy?: string;
  /** npm peers only: the registry's sha512 of the package, as `npm view NAME@VERSION dist.integrity` prints it. */
  integrity?: string;
}

export function peerSpecs(): Record<string, PeerSpec> {
  const raw = JSON.parse(readFileSync(path.join(REPO_ROOT, "peers/versions.json"), "utf8")) as Record<string, unknown>;
  return Object.fromEntries(Object.entries(raw).filter(([k]) => !k.startsWith("//"))) as Record<string, PeerSpec>;
}

/** The per-machine cache: SATELLITES_PEERS_DIR, else ~/.cache/satellites-peers. */
export function peersCacheDir(): string {
  return process.env.SATELLITES_PEERS_DIR ?? path.join(homedir(), ".cache", "satellites-peers");
}

function peerDir(name: string, spec: PeerSpec): string {
  const version = spec.build === "local" ? `${spec.version}-src${localSourceDigest(spec)}` : spec.version;
  return path.join(peersCacheDir(), `${name}-${version.replace(/[^A-Za-z0-9._-]/g, "_")}`);
}

const binaryName = (pkg: string) => pkg.split("/").pop()!;


export const PEER_BUILD_COMMAND = "npm run peers";

/** Path of a built peer binary, or undefined when it is not built on this machine. */
export function peerPath(name: string, binary?: string): string | undefined {
  const spec = peerSpecs()[name];
  if (!spec) throw new Error(`unknown peer ${name} (peers/versions.json)`);
  const dir = peerDir(name, spec);
  if (!existsSync(path.join(dir, ".complete"))) return undefined;
  const bin = path.join(dir, "bin", binary ?? binaryName(spec.packages[0]!));
  return existsSync(bin) ? bin : undefined;
}

/** For tests: the folder of a `source` peer's module files, or an error naming the command that builds it. */
export function requirePeerSource(name: string): string {
  const spec = peerSpecs()[name];
  if (!spec) throw new Error(`unknown peer ${name} (peers/versions.json)`);
  const src = path.join(peerDir(name, spec), "src");
  if (!existsSync(path.join(peerDir(name, spec), ".complete"))) throw new Error(`peer ${name} is not fetched on this machine; fetch it with: ${PEER_BUILD_COMMAND} -- ${name}`);
  return src;
}

/** For tests: the peer's binary, or an error naming the command that builds it. Never a skip. */
export function requirePeer(name: string, binary?: string): string {
  const bin = peerPath(name, binary);
  if (!bin) throw new Error(`peer ${name}${binary ? ` (${binary})` : ""} is not built on this machine; build it with: ${PEER_BUILD_COMMAND} -- ${name}`);
  return bin;
}

export function goEnv(dir: string): NodeJS.ProcessEnv {
  return { ...process.env, GOBIN: path.join(dir, "bin"), GOFLAGS: "-buildvcs=false", CGO_ENABLED: process.env.CGO_ENABLED ?? "0" };
}

/** Download a module through the Go module proxy; returns its (read-only) folder. */
export function goModuleDir(module: string, version: string, env: NodeJS.ProcessEnv = {}, cwd = peersCacheDir()): string {
  const out = execFileSync("go", ["mod", "download", "-json", `${module}@${version}`], { encoding: "utf8", cwd, env: { ...process.env, GOFLAGS: "-mod=mod", ...env } });
  const result = JSON.parse(out) as { Dir?: string; Error?: string };
  if (!result.Dir) throw new Error(`go mod download ${module}@${version}: ${result.Error ?? "no folder"}`);
  return result.Dir;
}

/** A source module verified against the go.sum of the peer that requires it (spec.sumsFrom). */
function vouchedModuleDir(spec: PeerSpec, dir: string): string {
  const voucher = peerSpecs()[spec.sumsFrom!];
  if (!voucher) throw new Error(`sumsFrom names unknown peer ${spec.sumsFrom}`);
  const voucherDir = goModuleDir(voucher.module, voucher.version);
  const sums = path.join(dir, "sums");
  mkdirSync(sums, { recursive: true });
  for (const f of ["go.mod", "go.sum"]) cpSync(path.join(voucherDir, f), path.join(sums, f));
  execFileSync("chmod", ["-R", "u+w", sums]);
  try {
    return goModuleDir(spec.module, spec.version, {}, sums);
  } finally {
    rmSync(sums, { recursive: true, force: true });
  }
}

/** Copy a downloaded module somewhere writable (module cache folders are read-only). */
export function writableCopy(src: string, dest: string): void {
  rmSync(dest, { recursive: true, force: true });
  cpSync(src, dest, { recursive: true });
  execFileSync("chmod", ["-R", "u+w", dest]);
}

/** `npm pack` (the registry's tarball, checked against the pinned integrity), then its bin/ kept. */
function fetchNpmPeer(spec: PeerSpec, dir: string): void {
  const out = execFileSync("npm", ["pack", `${spec.module}@${spec.version}`, "--json", "--pack-destination", dir], { encoding: "utf8", cwd: dir });
  const [packed] = JSON.parse(out) as { filename: string; integrity: string }[];
  if (!packed || packed.integrity !== spec.integrity) throw new Error(`${spec.module}@${spec.version}: integrity ${packed?.integrity} is not the pinned ${spec.integrity}`);
  const tarball = path.join(dir, packed.filename);
  execFileSync("tar", ["xzf", tarball, "-C", dir]);
  rmSync(path.join(dir, "bin"), { recursive: true, force: true });
  renameSync(path.join(dir, "package", "bin"), path.join(dir, "bin"));
  rmSync(path.join(dir, "package"), { recursive: true, force: true });
  rmSync(tarball);
}

function buildPeer(name: string, spec: PeerSpec, dir: string): void {
  mkdirSync(path.join(dir, "bin"), { recursive: true });
  const env = goEnv(dir);
  if (spec.build === "install") {
    execFileSync("go", ["install", ...spec.packages.map((p) => `${spec.module}/${p}@${spec.version}`)], { stdio: "inherit", env, cwd: dir });
  } else if (spec.build === "module") {
    const src = path.join(dir, "src");
    writableCopy(goModuleDir(spec.module, spec.version), src);
    for (const p of spec.packages) {
      execFileSync("nice", ["-n", "10", "go", "build", "-mod=mod", "-o", path.join(dir, "bin", binaryName(p)), `./${p}`], { stdio: "inherit", env, cwd: src });
    }
    rmSync(src, { recursive: true, force: true });
  } else if (spec.build === "local") {
    buildLocalPeer(spec, dir);
  } else if (spec.build === "npm") {
    fetchNpmPeer(spec, dir);
  } else if (spec.build === "source") {
    writableCopy(spec.sumsFrom ? vouchedModuleDir(spec, dir) : goModuleDir(spec.module, spec.version), path.join(dir, "src"));
  } else {
    const custom = customBuilders[name];
    if (!custom) throw new Error(`peer ${name} needs a custom builder and none is registered`);
    custom(spec, dir);
  }
}

/** Build every named peer that is missing (all by default). Prints what it built and how long it took. */
export function ensurePeers(names?: string[], log: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): void {
  const specs = peerSpecs();
  mkdirSync(peersCacheDir(), { recursive: true });
  for (const name of names?.length ? names : Object.keys(specs)) {
    const spec = specs[name];
    if (!spec) throw new Error(`unknown peer ${name}; known: ${Object.keys(specs).join(", ")}`);
    const dir = peerDir(name, spec);
    if (existsSync(path.join(dir, ".complete"))) {
      log(`peer ${name} ${spec.version}: cached (${dir})`);
      continue;
    }
    const started = Date.now();
    log(`peer ${name} ${spec.version}: building ${spec.module} …`);
    const tmp = `${dir}.building-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    buildPeer(name, spec, tmp);
    writeFileSync(path.join(tmp, ".complete"), `${spec.module}@${spec.version}\n`);
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
    for (const b of [path.join(dir, "bin")]) if (existsSync(b)) chmodSync(b, 0o755);
    log(`peer ${name} ${spec.version}: built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
}
