// The official grpc-go interop client (a program nobody here wrote) through the proxy to the
// built-in TestService backend: every case that backend supports passes through the proxy. The
// cases the backend does not support fail against the backend directly, so the list below is
// exactly the backend's.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { startBackend, type Backend } from "@satellites/backend";
import { makeOrg, testDb } from "@satellites/testing";
import { requirePeer } from "@satellites/testing/peers";
import { afterAll, beforeAll, expect, it } from "vitest";
import { awakeSatellite, dropQueueKeys, makeToken, startTestProxy } from "./helpers.ts";

const run = promisify(execFile);

const SUPPORTED = [
  "empty_unary",
  "large_unary",
  "client_streaming",
  "server_streaming",
  "ping_pong",
  "empty_stream",
  "timeout_on_sleeping_server",
  "cancel_after_begin",
  "cancel_after_first_response",
  "status_code_and_message",
  "special_status_message",
  "unimplemented_method",
  "unimplemented_service",
  "custom_metadata",
];
// grpc-js does not tell a handler whether a request was compressed, nor compress on request.
const UNSUPPORTED_BY_BACKEND = ["client_compressed_unary", "server_compressed_unary", "client_compressed_streaming", "server_compressed_streaming"];

const db = testDb();
let backend: Backend;
let proxy: Awaited<ReturnType<typeof startTestProxy>>;
let metadata: string;

beforeAll(async () => {
  backend = await startBackend({ log: () => {} });
  proxy = await startTestProxy();
  const org = await makeOrg(db);
  const { token } = await makeToken(db, org.id);
  const sat = await awakeSatellite(db, org.id, backend.address);
  metadata = `satellite_name:${sat.name};satellite_org:${org.id};satellite_token:${token}`;
});

afterAll(async () => {
  await proxy?.close({ graceMs: 500 });
  await backend?.close({ graceMs: 100 });
  if (proxy) await dropQueueKeys(proxy.prefix);
});

async function interop(testCase: string, port: number, extra: string[] = []): Promise<{ ok: boolean; output: string }> {
  const client = requirePeer("grpc-interop", "client");
  try {
    const { stdout, stderr } = await run(client, ["--server_host=127.0.0.1", `--server_port=${port}`, "--use_tls=false", `--test_case=${testCase}`, ...extra], { timeout: 60_000 });
    return { ok: true, output: stdout + stderr };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    return { ok: false, output: `${e.stdout ?? ""}${e.stderr ?? e.message}` };
  }
}

it.each(SUPPORTED)("grpc-go interop %s passes through the proxy", async (testCase) => {
  const res = await interop(testCase, proxy.port, [`--additional_metadata=${metadata}`]);
  expect(res.output).not.toMatch(/FATAL|failed/i);
  expect(res.ok).toBe(true);
}, 90_000);

it("the cases left out are the backend's own limits: they fail against it directly", async () => {
  const port = backend.port;
  for (const testCase of UNSUPPORTED_BY_BACKEND) expect((await interop(testCase, port)).ok, testCase).toBe(false);
  // …while a supported one passes there, so the comparison means something.
  expect((await interop("empty_unary", port)).ok).toBe(true);
}, 120_000);
