// A local satellite's command line can carry its disk limit ({diskGiB}, {diskMB}) and its own
// directory ({dir}), so a build daemon such as buildkitd keeps its cache within the limit the
// customer set. A changed disk limit reaches a running satellite only through a new process:
// it is pending until the next start (the wake), which restarts the process only when its
// command line really changed; any other start resumes the same process.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { carriesDiskLimit, type Limits } from "@satellites/catalog";
import { createLocalProvider, renderCommand, type LocalProvider } from "../src/local.ts";
import type { LaunchSpec } from "../src/types.ts";

const limits = (over: Partial<Limits> = {}): Limits => ({ cpuPercent: 50, memoryMiB: 512, swapMiB: 0, diskGiB: 20, oomScoreAdj: 0, idleTimeoutSeconds: 60, ...over });
const spec: LaunchSpec = { satelliteId: "sat-cmd", orgId: "org-1", name: "sat-cmd", platform: "amd64", size: "small", hibernate: true, limits: limits() };

const dirs: string[] = [];
let provider: LocalProvider;
let dataDir: string;
beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "local-command-"));
  const noCgroups = await mkdtemp(join(tmpdir(), "no-cgroup-"));
  dirs.push(dataDir, noCgroups);
  provider = createLocalProvider({
    dataDir,
    cgroupRoot: noCgroups,
    portRange: [23450, 23499],
    stopGraceMs: 1000,
    // The template follows an `exec`: several commands need a shell of their own.
    command: `sh -c 'echo "cache budget {diskGiB} GiB = {diskMB} MB under {dir} on {port}"; exec sleep 600'`,
  });
});
afterAll(async () => {
  for (const id of await provider.list()) await provider.terminate(id);
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const pidOf = async (id: string): Promise<number> => JSON.parse(await readFile(join(dataDir, id, "state.json"), "utf8")).pid;
const log = (id: string) => readFile(join(dataDir, id, "satellite.log"), "utf8");

it("knows which command lines carry the disk limit", () => {
  expect(carriesDiskLimit("buildkitd --oci-worker-gc-keepstorage {diskMB}")).toBe(true);
  expect(carriesDiskLimit("daemon --cache-gib {diskGiB}")).toBe(true);
  expect(carriesDiskLimit("buildkitd --addr tcp://{host}:{port}")).toBe(false);
  expect(carriesDiskLimit(undefined)).toBe(false);
});

it("renders the placeholders", () => {
  expect(renderCommand("d --addr tcp://{host}:{port} --root {dir}/bk --oci-worker-gc-keepstorage {diskMB} # {diskGiB}", { host: "127.0.0.1", port: 21001, dir: "/data/local-0123456789ab", limits: { diskGiB: 20 } })).toBe(
    "d --addr tcp://127.0.0.1:21001 --root /data/local-0123456789ab/bk --oci-worker-gc-keepstorage 21474 # 20",
  );
});

it("starts the satellite with its disk limit, and restarts it for a new one only at the next start", async () => {
  const { instanceId: id } = await provider.launch(spec);
  const dir = join(dataDir, id);
  await expect.poll(() => log(id)).toContain(`cache budget 20 GiB = 21474 MB under ${dir} on `);
  const first = await pidOf(id);

  // Limits the command line does not carry: applied at once, same process.
  expect(await provider.applyLimits(id, limits({ cpuPercent: 80 }), spec)).toMatchObject({ applied: true });
  expect(await pidOf(id)).toBe(first);

  // A new disk limit: pending (the running process keeps its budget until the next start).
  expect(await provider.applyLimits(id, limits({ cpuPercent: 80, diskGiB: 50 }), spec)).toMatchObject({ applied: false });
  expect(await pidOf(id)).toBe(first);
  expect((await provider.describe(id)).state).toBe("running");

  // A start while it runs changes nothing (a build may be using it).
  expect((await provider.start(id)).state).toBe("running");
  expect(await pidOf(id)).toBe(first);

  // Sleep (hibernate), then the wake with the pending limits: a new process with the new budget.
  await provider.stop(id, { hibernate: true });
  expect((await provider.describe(id)).state).toBe("hibernated");
  const woke = await provider.start(id, { pendingLimits: limits({ cpuPercent: 80, diskGiB: 50 }) });
  expect(woke.state).toBe("running");
  const second = await pidOf(id);
  expect(second).not.toBe(first);
  await expect.poll(() => log(id)).toContain("cache budget 50 GiB = 53687 MB");

  // Nothing changed since: a sleep and wake resume the same process (memory kept).
  expect(await provider.applyLimits(id, limits({ cpuPercent: 80, diskGiB: 50 }), spec)).toMatchObject({ applied: true });
  await provider.stop(id, { hibernate: true });
  await provider.start(id);
  expect(await pidOf(id)).toBe(second);
});
