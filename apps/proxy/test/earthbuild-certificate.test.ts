// Issue 18's EarthBuild setup, run as the Connect card prints it: a config of its own with
// global.buildkit_host and the bundle's TLS files, and nothing else (no satellite metadata, no
// token, no Earthly cloud API). EarthBuild's module is not served by the Go module proxy here,
// so the client is the Earthly CLI v0.8.14 installed as `earth`: EarthBuild kept Earthly's
// config keys (buildkit_host, tls_enabled, tlsca, tlscert, tlskey) and its BuildKit client. The
// satellite runs Earthly's BuildKit fork, the daemon both CLIs are made for.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { ClientBundle } from "@satellites/client-certs";
import type { Satellite } from "@satellites/db";
import { makeOrg } from "@satellites/testing";
import { requirePeer } from "@satellites/testing/peers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { certificateWorld, clientMachine, treeDigest, type CertificateWorld } from "./certificate-world.ts";
import { earthlyProject, earthlySatelliteEnv, ensureEarthDebugger, SATELLITE_HOST } from "./earthly-world.ts";
import { freePort } from "./processes.ts";

const isRoot = process.getuid?.() === 0;
const BIG = randomBytes(50 * 1024 * 1024);

let w: CertificateWorld;
let x: Satellite;
let bundle: ClientBundle;
let project: string;
let reference: Record<string, string>;

/** Runs the Earthly CLI to completion; its output and exit code. */
function earthly(args: string[], cwd: string, env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  const child = spawn(requirePeer("earthly", "earthly"), args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (c: Buffer) => (out += c.toString()));
  child.stderr.on("data", (c: Buffer) => (out += c.toString()));
  return new Promise((resolve) => child.once("exit", (code) => resolve({ code, out })));
}

/** The same Earthfile built by the same CLI straight against the same daemon, no proxy: the reference output. */
async function buildDirect(): Promise<Record<string, string>> {
  const port = await freePort();
  const root = mkdtempSync(path.join(w.dir, "direct-buildkit-"));
  const daemon = spawn(requirePeer("earthly-buildkit", "buildkitd"), ["--addr", `tcp://${SATELLITE_HOST}:${port}`, "--root", root, "--oci-worker-net", "host"], { stdio: "ignore" });
  try {
    const dir = mkdtempSync(path.join(w.dir, "direct-project-"));
    earthlyProject(dir, BIG);
    const home = mkdtempSync(path.join(w.dir, "direct-home-"));
    const config = path.join(home, "direct.yml");
    writeFileSync(config, `global:\n  tls_enabled: false\n  disable_analytics: true\n`);
    const r = await earthly(["--config", config, "--buildkit-host", `tcp://${SATELLITE_HOST}:${port}`, "+build"], dir, { HOME: home, PATH: process.env.PATH ?? "/usr/bin:/bin" });
    expect(r.code, r.out).toBe(0);
    return treeDigest(path.join(dir, "out"));
  } finally {
    daemon.kill("SIGTERM");
    await new Promise((r) => daemon.once("exit", r));
  }
}

beforeAll(async () => {
  if (!isRoot) return;
  ensureEarthDebugger();
  // The CLI takes 127.0.0.1 for a BuildKit it runs itself in a container: clients use another loopback address.
  w = await certificateWorld({ satelliteEnv: earthlySatelliteEnv(), publicHost: SATELLITE_HOST });
  const org = await makeOrg(w.db, "earthbuild");
  x = await w.launch(org.id, "earth-x");
  bundle = (await w.issue(x, { name: "earthbuild" })).bundle;
  project = mkdtempSync(path.join(w.dir, "project-"));
  earthlyProject(project, BIG);
  reference = await buildDirect();
}, 300_000);

afterAll(async () => {
  await w?.close();
}, 180_000);

describe.runIf(isRoot)("EarthBuild's setup (the Earthly CLI v0.8.14 as `earth`) with a client certificate bundle and nothing else", () => {
  it("the Connect card's lines, verbatim, against an asleep satellite: one wake, artifacts byte-identical to a direct build", { timeout: 300_000 }, async () => {
    expect(Object.keys(reference).sort()).toEqual(["big.bin", "count.txt", "small-0.txt", "small-1.txt", "small-2.txt", "small-3.txt", "small-4.txt", "sums.txt"]);
    await w.sleep(x.id);
    const wakes = () => w.db.satelliteEvent.count({ where: { satelliteId: x.id, from: "asleep", to: "starting" } });
    const wakesBefore = await wakes();
    const forwardedBefore = await w.forwardedBytes();
    const m = await clientMachine(w.dir, w.address, x.name, bundle, { earth: requirePeer("earthly", "earthly") });
    const r = await m.run(m.setups.earthbuild, project);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain("Earthly Build  ✅ SUCCESS");
    expect(await treeDigest(path.join(project, "out"))).toEqual(reference);
    expect(await wakes()).toBe(wakesBefore + 1);
    // The build went through the proxy (the 50 MB file with it), as the certificate.
    expect((await w.forwardedBytes()) - forwardedBefore).toBeGreaterThan(50 * 1024 * 1024);
    const wake = await w.db.satelliteEvent.findFirstOrThrow({ where: { satelliteId: x.id, from: "asleep", to: "starting" }, orderBy: { id: "desc" } });
    expect(wake.actor).toMatch(/^certificate:/);
  });
});
