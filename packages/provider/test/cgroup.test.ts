// The cgroup layer against the real kernel: detection, limit files, membership, freeze, removal.
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  cgroupExists,
  containsPid,
  cpuQuotaUs,
  detectCgroups,
  freeze,
  isFrozen,
  memoryKills,
  procsFiles,
  removeCgroup,
  thaw,
  withProcessCap, writeLimits,
  type CgroupHost,
  type CgroupSet,
} from "../src/cgroup.ts";
import { processStatus, spawnSatellite, terminateProcess, type ProcessRef } from "../src/local-process.ts";

const run = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const read = async (file: string) => (await readFile(file, "utf8")).trim();

describe("cpuQuotaUs", () => {
  it("is a share of all CPUs per 100 ms period", () => {
    expect(cpuQuotaUs(50, 2)).toBe(100_000);
    expect(cpuQuotaUs(95, 8)).toBe(760_000);
    expect(cpuQuotaUs(100, 1)).toBe(100_000);
    // The kernel's floor.
    expect(cpuQuotaUs(0.01, 1)).toBe(1000);
  });
});

describe("detectCgroups without writable cgroups", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "cg-none-"));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("reports none for a directory that is no cgroup mount", async () => {
    const host = await detectCgroups({ root: dir, parent: "satellites" });
    expect(host.mode).toBe("none");
    expect(host.reason).toMatch(/no writable cgroup/);
    expect(await host.create("x")).toBeNull();
    // Probing left nothing behind in the fake root.
    expect((await run("find", [dir, "-mindepth", "1"])).stdout).toBe("");
  });

  it("reports none for a missing root", async () => {
    expect((await detectCgroups({ root: join(dir, "nope") })).mode).toBe("none");
  });

  it.runIf(isRoot)("reports none for an unprivileged user on the real hierarchy", async () => {
    const script = `import("${new URL("../src/cgroup.ts", import.meta.url).pathname}").then(async (m) => {
      const h = await m.detectCgroups({ parent: "satellites-test-unpriv" });
      console.log(h.mode);
    })`;
    const { stdout } = await run(process.execPath, ["--import", "tsx", "-e", script], {
      uid: 65534,
      gid: 65534,
      cwd: process.cwd(),
      env: { PATH: process.env["PATH"] ?? "", HOME: "/tmp", TSX_DISABLE_CACHE: "1" },
    });
    expect(stdout.trim()).toBe("none");
  });
});

describe.runIf(isRoot)("cgroups on this host", () => {
  const parent = `satellites-test-cg-${process.pid}`;
  let host: CgroupHost;
  let set!: CgroupSet;
  let ref: ProcessRef | null = null;
  let logDir: string;

  beforeAll(async () => {
    host = await detectCgroups({ parent });
    logDir = await mkdtemp(join(tmpdir(), "cg-log-"));
  });
  afterAll(async () => {
    if (ref) await terminateProcess(ref, 1000);
    if (set) await removeCgroup(set);
    await host.removeParents();
    await rm(logDir, { recursive: true, force: true });
  });

  it("finds a writable hierarchy (root on Linux)", async () => {
    console.log(`cgroup mode: ${host.mode} — ${host.reason}`);
    expect(host.mode).not.toBe("none");
    const created = await host.create("one");
    expect(created).not.toBeNull();
    set = created as CgroupSet;
    expect(await cgroupExists(set)).toBe(true);
    // create is idempotent.
    expect(await host.create("one")).toEqual(set);
  });

  it("writes CPU and memory limits", async () => {
    await writeLimits(set, { cpuPercent: 50, memoryMiB: 256, swapMiB: 64 }, 2);
    if (set.mode === "v2") {
      expect(await read(join(set.cpu, "cpu.max"))).toBe("100000 100000");
      expect(await read(join(set.memory, "memory.max"))).toBe(String(256 * 1024 * 1024));
    } else {
      expect(await read(join(set.cpu, "cpu.cfs_quota_us"))).toBe("100000");
      expect(await read(join(set.cpu, "cpu.cfs_period_us"))).toBe("100000");
      expect(await read(join(set.memory, "memory.limit_in_bytes"))).toBe(String(256 * 1024 * 1024));
      const memsw = await read(join(set.memory, "memory.memsw.limit_in_bytes")).catch(() => null);
      if (memsw !== null) expect(memsw).toBe(String(320 * 1024 * 1024));
    }
    // Raising memory above the previous memory + swap must work too (memsw ordering).
    await writeLimits(set, { cpuPercent: 95, memoryMiB: 1024, swapMiB: 0 }, 2);
    const memFile = set.mode === "v2" ? "memory.max" : "memory.limit_in_bytes";
    expect(await read(join(set.memory, memFile))).toBe(String(1024 * 1024 * 1024));
  });

  it("starts a process inside the group, then freezes, thaws and removes it", async () => {
    ref = await spawnSatellite({
      command: "sleep 30",
      cwd: logDir,
      logFile: join(logDir, "log"),
      env: { PATH: process.env["PATH"] ?? "" },
      procsFiles: procsFiles(set),
      oomScoreAdj: 250,
      joined: (pid) => containsPid(set, pid),
    });
    expect(await containsPid(set, ref.pid)).toBe(true);
    expect(await read(`/proc/${ref.pid}/oom_score_adj`)).toBe("250");
    // The program itself (after exec), not only the wrapper, is confined. spawnSatellite returns
    // once the wrapper has joined; its exec may come a moment later (CI saw "sh" once).
    const pid = ref.pid;
    await expect.poll(() => read(`/proc/${pid}/comm`), { timeout: 2_000, interval: 10 }).toBe("sleep");
    expect(await read(`/proc/${ref.pid}/cgroup`)).toContain(`/${parent}/one`);

    if (set.freezer) {
      await freeze(set);
      expect(await isFrozen(set)).toBe(true);
      if (set.mode === "v1") expect(await read(join(set.freezer, "freezer.state"))).toBe("FROZEN");
      await freeze(set);
      await thaw(set);
      expect(await isFrozen(set)).toBe(false);
    }

    await removeCgroup(set);
    expect(await cgroupExists(set)).toBe(false);
    expect(await processStatus(ref)).toBe("dead");
    ref = null;
    // Removing again is success.
    await removeCgroup(set);
  });
});

// This host's cgroup2 mount has no cpu/memory controllers (they are bound to v1), but its core
// files work: the v2 freeze, membership and removal paths run against the real kernel here.
const unified = "/sys/fs/cgroup/unified";
const hasUnified = isRoot && (await stat(join(unified, "cgroup.procs")).then(() => true, () => false));

describe.runIf(hasUnified)("cgroup v2 core files on the unified mount", () => {
  const parentDir = join(unified, `satellites-test-v2-${process.pid}`);
  const dir = join(parentDir, "one");
  const set: CgroupSet = { mode: "v2", cpu: dir, memory: dir, freezer: dir };
  let ref: ProcessRef | null = null;
  let logDir: string;

  beforeAll(async () => {
    await mkdir(dir, { recursive: true });
    logDir = await mkdtemp(join(tmpdir(), "cg2-log-"));
  });
  afterAll(async () => {
    if (ref) await terminateProcess(ref, 1000);
    await removeCgroup(set);
    await rm(parentDir, { recursive: true }).catch(() => undefined);
    await rm(logDir, { recursive: true, force: true });
  });

  it("confines, freezes, thaws and removes", async () => {
    ref = await spawnSatellite({
      command: "sleep 30",
      cwd: logDir,
      logFile: join(logDir, "log"),
      env: { PATH: process.env["PATH"] ?? "" },
      procsFiles: procsFiles(set),
      oomScoreAdj: 0,
      joined: (pid) => containsPid(set, pid),
    });
    expect(await read(`/proc/${ref.pid}/cgroup`)).toContain(`0::/satellites-test-v2-${process.pid}/one`);
    await freeze(set);
    expect(await isFrozen(set)).toBe(true);
    expect(await read(join(dir, "cgroup.events"))).toMatch(/^frozen 1$/m);
    await thaw(set);
    expect(await read(join(dir, "cgroup.events"))).toMatch(/^frozen 0$/m);
    await removeCgroup(set);
    expect(await processStatus(ref)).toBe("dead");
    ref = null;
    expect(await cgroupExists(set)).toBe(false);
  });
});

describe("OOM kill counts from the kernel's files", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "cg-oom-files-"));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("reads oom_kill from v2's memory.events, and nothing else; v1 has no count that covers a group's children", async () => {
    await writeFile(join(dir, "memory.events"), "low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\noom_group_kill 7\n");
    await writeFile(join(dir, "memory.oom_control"), "oom_kill_disable 0\nunder_oom 0\noom_kill 5\n");
    const ino = String((await stat(dir)).ino);
    expect(await memoryKills({ mode: "v2", cpu: dir, memory: dir, freezer: null })).toEqual({ group: ino, kills: 2 });
    expect(await memoryKills({ mode: "v1", cpu: dir, memory: dir, freezer: null })).toBeNull();
    // A kernel without the counter, or a group that is gone.
    await writeFile(join(dir, "memory.events"), "low 0\nhigh 0\nmax 12\noom 3\n");
    expect(await memoryKills({ mode: "v2", cpu: dir, memory: dir, freezer: null })).toBeNull();
    expect(await memoryKills({ mode: "v2", cpu: dir, memory: join(dir, "gone"), freezer: null })).toBeNull();
  });
});

describe("cgroup v2 limit files", () => {
  let dir: string;
  beforeAll(async () => {
    // A scratch directory with v2's file names: checks what is written, not the kernel.
    dir = await mkdtemp(join(tmpdir(), "cg2-files-"));
    for (const file of ["cpu.max", "memory.max", "memory.swap.max"]) await writeFile(join(dir, file), "max");
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("writes cpu.max as quota and period, memory and swap in bytes", async () => {
    await writeLimits({ mode: "v2", cpu: dir, memory: dir, freezer: null }, { cpuPercent: 95, memoryMiB: 2048, swapMiB: 512 }, 4);
    expect(await read(join(dir, "cpu.max"))).toBe("380000 100000");
    expect(await read(join(dir, "memory.max"))).toBe(String(2048 * 1024 * 1024));
    expect(await read(join(dir, "memory.swap.max"))).toBe(String(512 * 1024 * 1024));
  });

  // A satellite's state file written before the process cap existed has no `pids`: its group
  // must get the cap at its next start, not stay uncapped until the group is made anew.
  it("a group recorded before the process cap gets it: pids.max written", async () => {
    await writeFile(join(dir, "pids.max"), "max");
    const old = { mode: "v2" as const, cpu: dir, memory: dir, freezer: null };
    const upgraded = await withProcessCap(old);
    expect(upgraded.pids).toBe(dir);
    await writeLimits(upgraded, { cpuPercent: 95, memoryMiB: 2048, swapMiB: 512 }, 4, 777);
    expect(await read(join(dir, "pids.max"))).toBe("777");
  });
});
