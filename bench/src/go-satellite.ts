// The grpc-go satellite for bench:wake: Debian's Go toolchain and grpc-go sources (installed
// when missing, as nginx is for bench:proxy), built once into node_modules/.cache.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { aptInstall, ROOT, which } from "./harness.ts";

const GOPATH = "/usr/share/gocode";
const SOURCES = join(GOPATH, "src/google.golang.org/grpc/test/grpc_testing");

/** The built satellite binary (run it with --host and --port). */
export function ensureGoSatellite(): string {
  if (!which("go") || !existsSync(SOURCES)) {
    aptInstall(["golang-go", "golang-google-grpc-dev"], "Go or grpc-go sources not found");
  }
  const cache = join(ROOT, "node_modules/.cache/satellites-bench");
  mkdirSync(cache, { recursive: true });
  const bin = join(cache, "go-satellite");
  // GOPATH mode against Debian's packaged sources: no module proxy, no network.
  execFileSync("go", ["build", "-o", bin, join(ROOT, "bench/go-satellite/main.go")], {
    cwd: join(ROOT, "bench/go-satellite"),
    stdio: ["ignore", "inherit", "inherit"],
    env: { ...process.env, GOPATH, GO111MODULE: "off", GOFLAGS: "", GOCACHE: join(cache, "gocache") },
  });
  return bin;
}
