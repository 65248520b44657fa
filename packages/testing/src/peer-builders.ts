// Builders for peers that neither `go install MODULE@VERSION` nor a vendored build of the
// downloaded module can make (e.g. a module whose go.mod has relative `replace` lines).
// Each gets its spec from peers/versions.json and the folder to fill: binaries go in DIR/bin.
import { execFileSync } from "node:child_process";
import { cpSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { goEnv, goModuleDir, peerSpecs, writableCopy, type PeerSpec } from "./peers.ts";

/** `replace X => ./dir` lines of a go.mod: the nested modules a module zip leaves out. */
export function relativeReplaces(goMod: string): { module: string; dir: string }[] {
  return [...goMod.matchAll(/^\s*(?:replace\s+)?(\S+)\s+=>\s+(\.\.?\/\S*)\s*$/gm)].map((m) => ({ module: m[1]!, dir: m[2]! }));
}

/** The version a go.mod requires or replaces a module with (`replace X => Y V` wins). */
export function goModVersion(goMod: string, module: string): string | undefined {
  const esc = module.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  const replaced = new RegExp(`^\\s*(?:replace\\s+)?${esc}\\s+=>\\s+(\\S+)\\s+(v\\S+)\\s*$`, "m").exec(goMod);
  if (replaced) return `${replaced[1]}@${replaced[2]}`;
  return new RegExp(`^\\s*(?:require\\s+)?${esc}\\s+(v\\S+)`, "m").exec(goMod)?.[1];
}

// Flags that earthly's interpreter reads from the ast module at the v0.8.14 commit but that the
// nearest ast version the module proxy serves (2024-02-28) does not declare yet. Only the struct
// fields are missing (the parser and grammar are the same); they are Earthfile flags our tests
// never use. Added only where absent, so an exact ast version makes this a no-op.
const AST_FLAG_FIELDS: Record<string, string[]> = {
  RunOpts: ['WithAWS bool `long:"aws"`', 'OIDC string `long:"oidc"`', 'RawOutput bool `long:"raw-output"`'],
  SaveImageOpts: ['WithoutEarthlyLabels bool `long:"without-earthly-labels"`'],
  WithDockerOpts: ['CacheID string `long:"cache-id"`'],
};

function addMissingAstFlags(flagsGo: string): string {
  let out = readFileSync(flagsGo, "utf8");
  for (const [struct, fields] of Object.entries(AST_FLAG_FIELDS)) {
    const missing = fields.filter((f) => !new RegExp(`^\\s*${f.split(" ")[0]}\\s`, "m").test(out));
    if (missing.length) out = out.replace(`type ${struct} struct {\n`, `type ${struct} struct {\n${missing.map((f) => `\t${f}\n`).join("")}`);
  }
  writeFileSync(flagsGo, out);
  return out;
}

/** The peers the earthly module pins must be the ones in versions.json: same BuildKit fork, same cloud-api. */
function checkPins(goMod: string): void {
  const specs = peerSpecs();
  const want: [string, string][] = [
    ["earthly-buildkit", goModVersion(goMod, "github.com/moby/buildkit") ?? "?"],
    ["earthly-cloud-api", `github.com/earthly/cloud-api@${goModVersion(goMod, "github.com/earthly/cloud-api") ?? "?"}`],
  ];
  for (const [peer, pinned] of want) {
    const spec = specs[peer];
    if (!spec || `${spec.module}@${spec.version}` !== pinned) throw new Error(`peers/versions.json: ${peer} must be ${pinned} (what earthly's go.mod pins), is ${spec ? `${spec.module}@${spec.version}` : "missing"}`);
  }
}

/** The Earthly CLI: its go.mod replaces ./ast and ./util/deltautil, nested modules its zip leaves out. */
function buildEarthly(spec: PeerSpec, dir: string): void {
  const src = path.join(dir, "src");
  writableCopy(goModuleDir(spec.module, spec.version), src);
  const goMod = readFileSync(path.join(src, "go.mod"), "utf8");
  checkPins(goMod);
  for (const { module, dir: rel } of relativeReplaces(goMod)) {
    const version = spec.nested?.[module] ?? goModVersion(goMod, module);
    if (!version || version.startsWith("v0.0.0-00010101")) throw new Error(`earthly: no version for nested module ${module} (set "nested" in peers/versions.json)`);
    // sum.golang.org does not list some of earthly's nested pseudo-versions; the proxy serves them.
    const modDir = goModuleDir(module, version, { GONOSUMDB: module });
    rmSync(path.join(src, rel), { recursive: true, force: true });
    cpSync(modDir, path.join(src, rel), { recursive: true });
    execFileSync("chmod", ["-R", "u+w", path.join(src, rel)]);
  }
  addMissingAstFlags(path.join(src, "ast/commandflag/flags.go"));
  // The ldflags earthly's own release build sets (Earthfile +earthly, +debugger): version, install name.
  const ldflags = `-X main.Version=${spec.version} -X main.DefaultInstallationName=earthly -X main.DefaultBuildkitdImage=earthly/buildkitd:${spec.version}`;
  for (const p of spec.packages) {
    // cmd/debugger is earth_debugger: Earthly's buildkitd image has it at /usr/bin/earth_debugger and
    // every RUN the CLI sends runs through it (a host bind mount from the daemon's machine).
    const out = p === "cmd/debugger" ? "earth_debugger" : p.split("/").pop()!;
    execFileSync("nice", ["-n", "10", "go", "build", "-mod=mod", "-tags", "netgo", "-ldflags", ldflags, "-o", path.join(dir, "bin", out), `./${p}`], { stdio: "inherit", env: goEnv(dir), cwd: src });
  }
  rmSync(src, { recursive: true, force: true });
}

/** Earthly's BuildKit fork, stamped as Earthly's release build stamps it (its Dockerfile's
 *  ldflags): the CLI checks Package == github.com/earthly/buildkit and compares the version with
 *  its own, and warns "non-Earthly version of Buildkit" otherwise. */
function buildEarthlyBuildkit(spec: PeerSpec, dir: string): void {
  const src = path.join(dir, "src");
  writableCopy(goModuleDir(spec.module, spec.version), src);
  const earthly = peerSpecs().earthly!.version;
  const revision = spec.version.split("-").pop()!;
  const ldflags = [`Version=${earthly}`, `Revision=${revision}`, `Package=${spec.module}`].map((v) => `-X github.com/moby/buildkit/version.${v}`).join(" ");
  for (const p of spec.packages) {
    execFileSync("nice", ["-n", "10", "go", "build", "-mod=mod", "-ldflags", ldflags, "-o", path.join(dir, "bin", p.split("/").pop()!), `./${p}`], { stdio: "inherit", env: goEnv(dir), cwd: src });
  }
  rmSync(src, { recursive: true, force: true });
}

export const customBuilders: Record<string, (spec: PeerSpec, dir: string) => void> = {
  earthly: buildEarthly,
  "earthly-buildkit": buildEarthlyBuildkit,
};
