// A local satellite whose disk is full can still be terminated: its process ends, its cgroup and
// its files go (freeing the disk). The instance lock is taken without writing a byte: a lock
// file written to on a full disk failed with ENOSPC, the terminate with it, and the daemon ran on.
import { execFile } from "node:child_process";
import { mkdtemp, open, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, expect, it } from "vitest";
import { waitHealthy } from "@satellites/backend";
import { createLocalProvider, type LocalProvider } from "../src/local.ts";

const run = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const cgroupParent = `satellites-test-fulldisk-${process.pid}`;
let base = "";
let dataDir = "";
let mounted = false;
let provider: LocalProvider;

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
  await run("mount", ["-t", "tmpfs", "-o", "size=16m", "tmpfs", dataDir]);
  mounted = true;
  provider = createLocalProvider({ dataDir, cgroupParent, portRange: [23300, 23349], stopGraceMs: 2000 });
});

afterAll(async () => {
  if (!isRoot) return;
  for (const id of await provider.list().catch(() => [])) await provider.terminate(id).catch(() => undefined);
  const detected = await import("../src/cgroup.ts").then((m) => m.detectCgroups({ parent: cgroupParent }));
  await detected.removeParents();
  if (mounted) await run("umount", ["-l", dataDir]).catch(() => undefined);
  await rm(base, { recursive: true, force: true });
});

it.runIf(isRoot)("terminates a satellite whose disk is full: the process ends and its files go", { timeout: 60_000 }, async () => {
  const launched = await provider.launch({
    satelliteId: "sat-full", orgId: "org-1", name: "sat-full", platform: "amd64", size: "small", hibernate: false,
    limits: { cpuPercent: 50, memoryMiB: 512, swapMiB: 0, diskGiB: 20, oomScoreAdj: 300, idleTimeoutSeconds: 60 },
  });
  const info = await provider.describe(launched.instanceId);
  expect(await waitHealthy(info.upstream!, { totalMs: 20_000 })).toBe(true);
  const pid = (JSON.parse(await readFile(join(dataDir, launched.instanceId, "state.json"), "utf8")) as { pid: number }).pid;
  expect(await alive(pid)).toBe(true);

  await fill(join(dataDir, launched.instanceId, "filler"));
  await provider.terminate(launched.instanceId);
  expect(await alive(pid)).toBe(false);
  expect(await provider.list()).toEqual([]);
  expect((await provider.describe(launched.instanceId)).state).toBe("terminated");
});
