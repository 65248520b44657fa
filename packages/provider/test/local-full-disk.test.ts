// A local satellite whose disk is full can still be terminated: its process ends, its cgroup and
// its files go (freeing the disk). The instance lock is taken without writing a byte: a lock
// file written to on a full disk failed with ENOSPC, the terminate with it, and the daemon ran on.
// And it still sleeps, wakes and takes new limits: its state file's writes needed room, so on a
// full disk the idle sleep failed until its retries ran out and the satellite was marked failed.
// So does a satellite running real BuildKit. The data directory is a small tmpfs, really full.
import { execFile } from "node:child_process";
import { appendFile, mkdtemp, open, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, expect, it } from "vitest";
import { waitHealthy } from "@satellites/backend";
import { CertificateAuthority } from "@satellites/pki";
import { terminateAll } from "@satellites/testing/local";
import { requirePeer } from "@satellites/testing/peers";
import { bridgeNetwork, createLocalProvider, type LocalProvider, type LocalProviderOptions } from "../src/local.ts";

const run = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const cgroupParent = `satellites-test-fulldisk-${process.pid}`;
let base = "";
let dataDir = "";
let mounted = false;
let provider: LocalProvider;
let options: LocalProviderOptions;
let credentials: grpc.ChannelCredentials;
/** Serving over mutual TLS, as a satellite of the control plane's CA does. */
const healthy = (upstream: string) => waitHealthy(upstream, { totalMs: 20_000, credentials });

async function alive(pid: number): Promise<boolean> {
  try {
    return !/^\d+ \(.*\) [ZX]/.test(await readFile(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

/** Writes until the file system says ENOSPC, in big then small pieces: nothing is left. */
async function fill(file: string): Promise<void> {
  const handle = await open(file, "w");
  try {
    for (const size of [1 << 20, 4096, 1]) {
      const chunk = Buffer.alloc(size, 1);
      for (;;) {
        try {
          await handle.write(chunk);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === "ENOSPC") break;
          throw err;
        }
      }
    }
  } finally {
    await handle.close().catch(() => undefined);
  }
}

beforeAll(async () => {
  if (!isRoot) return;
  base = await mkdtemp(join(tmpdir(), "local-full-"));
  dataDir = join(base, "data");
  await run("mkdir", ["-p", dataDir]);
  // Room for BuildKit's own state, and little more.
  await run("mount", ["-t", "tmpfs", "-o", "size=96m", "tmpfs", dataDir]);
  mounted = true;
  // With a CA, as the jobs process runs it: every start writes the satellite's TLS files.
  const { ca } = await CertificateAuthority.create("full disk CA");
  const client = await ca.issueClient("test proxy");
  credentials = grpc.credentials.createSsl(Buffer.from(client.caPem), Buffer.from(client.keyPem), Buffer.from(client.certPem));
  options = { dataDir, cgroupParent, portRange: [23300, 23349], stopGraceMs: 2000, ca };
  provider = createLocalProvider(options);
});

afterAll(async () => {
  if (!isRoot) return;
  for (const id of await provider.list().catch(() => [])) await provider.terminate(id).catch(() => undefined);
  const detected = await import("../src/cgroup.ts").then((m) => m.detectCgroups({ parent: cgroupParent }));
  await detected.removeParents();
  if (mounted) await run("umount", ["-l", dataDir]).catch(() => undefined);
  await rm(base, { recursive: true, force: true });
});

const LIMITS = { cpuPercent: 50, memoryMiB: 512, swapMiB: 0, diskGiB: 20, oomScoreAdj: 300, idleTimeoutSeconds: 60 };

it.runIf(isRoot)("terminates a satellite whose disk is full: the process ends and its files go", { timeout: 60_000 }, async () => {
  const launched = await provider.launch({
    satelliteId: "sat-full", orgId: "org-1", name: "sat-full", platform: "amd64", size: "small", hibernate: false,
    limits: LIMITS,
  });
  const info = await provider.describe(launched.instanceId);
  expect(await healthy(info.upstream!)).toBe(true);
  const pid = (JSON.parse(await readFile(join(dataDir, launched.instanceId, "state.json"), "utf8")) as { pid: number }).pid;
  expect(await alive(pid)).toBe(true);

  await fill(join(dataDir, launched.instanceId, "filler"));
  await provider.terminate(launched.instanceId);
  expect(await alive(pid)).toBe(false);
  expect(await provider.list()).toEqual([]);
  expect((await provider.describe(launched.instanceId)).state).toBe("terminated");
});

it.runIf(isRoot)("sleeps, wakes and takes new limits while its disk is full, as often as it is asked", { timeout: 120_000 }, async () => {
  const launched = await provider.launch({ satelliteId: "sat-full-sleep", orgId: "org-1", name: "sat-full-sleep", platform: "amd64", size: "small", hibernate: true, limits: LIMITS });
  const id = launched.instanceId;
  const upstream = (await provider.describe(id)).upstream!;
  expect(await healthy(upstream)).toBe(true);
  const state = async () => JSON.parse(await readFile(join(dataDir, id, "state.json"), "utf8")) as { pid: number | null; desired: string; limits: { memoryMiB: number } };
  const first = (await state()).pid!;
  // Its log ends on a block boundary too: a start's line there needs a block of its own.
  const log = join(dataDir, id, "satellite.log");
  await appendFile(log, "\n".padStart(4096 - ((await stat(log)).size % 4096), " "));
  await fill(join(dataDir, id, "filler"));
  try {
    // Hibernated and resumed, again and again: the same process, memory kept.
    for (let round = 0; round < 3; round++) {
      await provider.stop(id, { hibernate: true });
      expect((await provider.describe(id)).state).toBe("hibernated");
      expect((await provider.start(id)).resumed).toBe(true);
      expect(await healthy(upstream)).toBe(true);
    }
    expect((await state()).pid).toBe(first);
    // A new limit is recorded.
    await provider.applyLimits(id, { ...LIMITS, memoryMiB: 384 }, { platform: "amd64", size: "small" });
    expect((await state()).limits.memoryMiB).toBe(384);
    // Stopped for good, then a new process.
    await provider.stop(id, { hibernate: false });
    expect(await alive(first)).toBe(false);
    expect((await state()).pid).toBeNull();
    await provider.start(id);
    expect(await healthy(upstream)).toBe(true);
    // With no room for the start's line, the earlier log moved aside: nothing of the earlier
    // start is read back as this one's.
    expect(await readFile(`${log}.1`, "utf8")).toMatch(/starting: /);
    expect(await readFile(log, "utf8")).not.toMatch(/listening/);
    const second = (await state()).pid!;
    expect(second).not.toBe(first);
    expect(await alive(second)).toBe(true);
  } finally {
    await provider.terminate(id);
  }
  expect(await provider.list()).toEqual([]);
});

it.runIf(isRoot)("with no room at all (its reserve gone too), a sleep it cannot record leaves it as it was: serving, not frozen under a state that says awake", { timeout: 120_000 }, async () => {
  const { instanceId: id } = await provider.launch({ satelliteId: "sat-full-none", orgId: "org-1", name: "sat-full-none", platform: "amd64", size: "small", hibernate: true, limits: LIMITS });
  const upstream = (await provider.describe(id)).upstream!;
  expect(await healthy(upstream)).toBe(true);
  await rm(join(dataDir, id, "state.reserve"));
  await fill(join(dataDir, id, "filler"));
  try {
    await expect(provider.stop(id, { hibernate: true })).rejects.toThrow(/ENOSPC/);
    expect((await provider.describe(id)).state).toBe("running");
    expect(await waitHealthy(upstream, { totalMs: 3000, credentials })).toBe(true);
  } finally {
    await provider.terminate(id);
  }
});

it.runIf(isRoot)("a satellite running real BuildKit sleeps and wakes while its disk is full, hibernated or stopped", { timeout: 180_000 }, async () => {
  const buildkit = createLocalProvider({ ...options, daemon: { kind: "buildkit", buildkitd: requirePeer("buildkit", "buildkitd"), network: bridgeNetwork() }, stopGraceMs: 5000 });
  try {
    for (const hibernate of [true, false]) {
      const { instanceId: id } = await buildkit.launch({ satelliteId: `sat-full-bk-${hibernate}`, orgId: "org-1", name: "sat-full-bk", platform: "amd64", size: "small", hibernate, limits: LIMITS });
      const upstream = (await buildkit.describe(id)).upstream!;
      expect(await waitHealthy(upstream, { totalMs: 30_000, credentials })).toBe(true);
      await fill(join(dataDir, id, "filler"));
      await buildkit.stop(id, { hibernate });
      expect((await buildkit.describe(id)).state).toBe(hibernate ? "hibernated" : "stopped");
      await buildkit.start(id);
      expect(await waitHealthy(upstream, { totalMs: 30_000, credentials }), `woken from ${hibernate ? "hibernation" : "a stop"}`).toBe(true);
      await buildkit.terminate(id);
    }
  } finally {
    await terminateAll(buildkit, "the BuildKit full-disk test");
  }
});
