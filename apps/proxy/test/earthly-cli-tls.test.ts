// The Earthly CLI's default: TLS to the satellite address (and to the cloud gRPC API) with the
// system roots. The proxy and the Earthly API serve a certificate from a test CA, which the CLI
// trusts through SSL_CERT_FILE; without it the CLI refuses the certificate.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { until } from "./processes.ts";
import { earthlyProject, earthlyWorld, type EarthlyWorld } from "./earthly-world.ts";

let w: EarthlyWorld;
let project: string;
const CONTENT = Buffer.from("built over TLS\n".repeat(1000));

beforeAll(async () => {
  w = await earthlyWorld({ tls: true, jobsEnv: { RECONCILE_EVERY_MS: "3600000" } });
  project = mkdtempSync(path.join(tmpdir(), "earthly-tls-"));
  earthlyProject(project, CONTENT);
}, 180_000);

afterAll(async () => {
  await w?.close();
  if (project) rmSync(project, { recursive: true, force: true });
});

it("launches and builds over TLS (tls_enabled default), trusting the test CA through SSL_CERT_FILE", async () => {
  const launched = await w.earthly(["sat", "launch", "--size", "small", "secure"]);
  expect(launched.code, launched.out).toBe(0);
  await until("secure awake", async () => (await w.db.satellite.findFirst({ where: { orgId: w.org.id, name: "secure" } }))?.state === "awake", 60_000);
  const r = await w.earthly(["--sat", "secure", "+build"], { cwd: project, timeoutMs: 240_000 });
  expect(r.code, r.out).toBe(0);
  expect(r.out).not.toContain("TLS has been disabled");
  expect(readFileSync(path.join(project, "out/big.bin")).equals(CONTENT)).toBe(true);
}, 300_000);

// The Earthly API has the proxy's certificate too, so the CLI refuses it there first (after its
// 10 retries of the cloud call, hence the time this takes).
it("without the CA the CLI refuses the certificate, and nothing is forwarded", async () => {
  const before = await w.forwardedBytes();
  const r = await w.earthly(["--sat", "secure", "+build"], { cwd: project, env: { SSL_CERT_FILE: "/dev/null" }, timeoutMs: 120_000 });
  expect(r.code, r.out).not.toBe(0);
  expect(r.out).toMatch(/certificate signed by unknown authority/);
  expect(await w.forwardedBytes()).toBe(before);
}, 180_000);
