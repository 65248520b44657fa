// The emulator as its own process (its CLI), driven through the HTTP control endpoint, with the
// provider finding it through AWS_ENDPOINT_URL_EC2 as a deployment would.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { waitHealthy } from "@satellites/backend";
import { defaultLimits } from "@satellites/catalog";
import { EMULATOR_AMIS, connectControl, type RemoteControl } from "@satellites/ec2-emulator";
import { TEST_CREDENTIALS, freePort, processAlive, processState } from "@satellites/ec2-emulator/testing";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createEc2Provider } from "../src/ec2.ts";
import { RetryableProviderError, type Provider } from "../src/types.ts";

const MAIN = fileURLToPath(new URL("../../ec2-emulator/src/main.ts", import.meta.url));

let child: ChildProcess;
let endpoint = "";
let control: RemoteControl;
let provider: Provider;
let satellitePort = 0;

beforeAll(async () => {
  satellitePort = await freePort();
  child = spawn(process.execPath, ["--import", "tsx", MAIN, "--port", "0", "--satellite-port", String(satellitePort), "--pending-ms", "150"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines = createInterface({ input: child.stdout ?? process.stdin });
  const [line] = (await once(lines, "line")) as [string];
  const match = /^listening (http:\/\/127\.0\.0\.1:\d+)$/.exec(line);
  if (!match?.[1]) throw new Error(`unexpected first line: ${line}`);
  endpoint = match[1];
  control = connectControl(endpoint);
  process.env.AWS_ENDPOINT_URL_EC2 = endpoint;
  provider = createEc2Provider({
    region: "us-east-1",
    credentials: TEST_CREDENTIALS,
    amiAmd64: EMULATOR_AMIS.amd64,
    satellitePort,
    hibernate: true,
    pollIntervalMs: 50,
    timeoutMs: 10_000,
  });
});

afterAll(async () => {
  delete process.env.AWS_ENDPOINT_URL_EC2;
  await provider?.close?.();
  if (child && child.exitCode === null) {
    child.kill("SIGKILL");
    await once(child, "exit");
  }
});

it("a separate emulator process: faults over the control endpoint, a real backend per instance, all gone on SIGTERM", async () => {
  const spec = {
    satelliteId: `cli-${process.pid}`,
    orgId: "org-cli",
    name: "cli",
    platform: "amd64",
    size: "xsmall",
    limits: defaultLimits("xsmall"),
    hibernate: true,
  } as const;

  await control.insufficientCapacity(5);
  const err = await provider.launch(spec).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(RetryableProviderError);
  expect((err as RetryableProviderError).code).toBe("InsufficientInstanceCapacity");
  expect((await control.stats()).errors).toEqual({ RunInstances: 3 });
  await control.reset();

  const { instanceId } = await provider.launch(spec);
  const { upstream } = await provider.describe(instanceId);
  expect(upstream).toMatch(new RegExp(`^127\\.0\\.\\d+\\.\\d+:${satellitePort}$`));
  expect(await waitHealthy(upstream ?? "", { totalMs: 15_000 })).toBe(true);
  const snap = await control.instance(instanceId);
  expect(snap).toMatchObject({ state: "running", process: "running", hibernationConfigured: true });
  const pid = snap?.pid ?? 0;

  await provider.stop(instanceId, { hibernate: true });
  expect(await control.instance(instanceId)).toMatchObject({ state: "stopped", hibernated: true, process: "frozen", pid });
  expect(processState(pid)).toBe("T");
  await provider.start(instanceId);
  expect(await waitHealthy(upstream ?? "", { totalMs: 5000 })).toBe(true);
  expect(await control.instance(instanceId)).toMatchObject({ pid, processStarts: 1 });

  expect(await control.logs(instanceId)).toContain(`listening ${upstream}`);
  const unknown = await fetch(`${endpoint}/_emulator/nope`, { method: "POST", body: "[]" });
  expect(unknown.status).toBe(404);

  // Closing the emulator takes its machines with it.
  child.kill("SIGTERM");
  const [code] = (await once(child, "exit")) as [number | null];
  expect(code).toBe(0);
  expect(processAlive(pid)).toBe(false);
});
