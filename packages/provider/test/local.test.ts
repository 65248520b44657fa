// The local provider end to end with the real backend, real processes and real cgroup files:
// one satellite walks through launch → hibernate → resume → limits → stop → start → a worker
// restart (a new provider object) → crash → terminate.
import { execFile } from "node:child_process";
import { connect } from "node:net";
import { lstat, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { probeHealth, waitHealthy } from "@satellites/backend";
import type { Limits } from "@satellites/catalog";
import { createLocalProvider, type LocalProvider, type LocalProviderOptions } from "../src/local.ts";
import type { LocalState } from "../src/local-state.ts";
import { lowestOomScoreAdj } from "../src/local-confine.ts";
import { PermanentProviderError, type LaunchSpec } from "../src/types.ts";
import { isFrozen } from "../src/cgroup.ts";

const run = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const read = async (file: string) => (await readFile(file, "utf8")).trim();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const MiB = 1024 * 1024;

/** lstat: a lock is a link to nowhere, and still exists. */
async function pathExists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

async function alive(pid: number): Promise<boolean> {
  try {
    const s = await read(`/proc/${pid}/stat`);
    return !/^\d+ \(.*\) [ZX]/.test(s);
  } catch {
    return false;
  }
}

async function until(check: () => Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not reached in time");
    await sleep(20);
  }
}

const limits = (over: Partial<Limits> = {}): Limits => ({
  cpuPercent: 50,
  memoryMiB: 512,
  swapMiB: 128,
  diskGiB: 20,
  oomScoreAdj: 300,
  idleTimeoutSeconds: 60,
  ...over,
});

const spec = (satelliteId: string, over: Partial<LaunchSpec> = {}): LaunchSpec => ({
  satelliteId,
  orgId: "org-1",
  name: satelliteId,
  platform: "amd64",
  size: "small",
  limits: limits(),
  hibernate: true,
  ...over,
});

describe("the lowest OOM score adjustment this process can give", () => {
  it("is any with CAP_SYS_RESOURCE (bit 24), else its own", () => {
    expect(lowestOomScoreAdj("Name:\tnode\nCapEff:\t000001ffffffffff\n", "0\n")).toBe(-1000);
    // This sandbox's set: everything but CAP_SYS_RESOURCE.
    expect(lowestOomScoreAdj("CapEff:\t000001fffeffffff\n", "0\n")).toBe(0);
    expect(lowestOomScoreAdj("CapEff:\t0000000000000000\n", "-200\n")).toBe(-200);
    expect(lowestOomScoreAdj(null, null)).toBe(0);
  });
});

describe.runIf(isRoot)("local provider with cgroups", () => {
  const cgroupParent = `satellites-test-local-${process.pid}`;
  let dataDir: string;
  let options: LocalProviderOptions;
  let provider: LocalProvider;
  let id = "";
  let upstream = "";
  let pid = 0;

  const state = async (): Promise<LocalState> => JSON.parse(await read(join(dataDir, id, "state.json"))) as LocalState;
  const cg = async () => {
    const c = (await state()).cgroup;
    if (!c) throw new Error("no cgroup recorded");
    return c;
  };

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "local-provider-"));
    options = { dataDir, cgroupParent, portRange: [23100, 23199], stopGraceMs: 5000 };
    provider = createLocalProvider(options);
  });

  afterAll(async () => {
    // Terminate whatever a failed test left, then the private parent groups and the data dir.
    for (const leftover of await provider.list()) await provider.terminate(leftover);
    const detected = await import("../src/cgroup.ts").then((m) => m.detectCgroups({ parent: cgroupParent }));
    await detected.removeParents();
    for (const dir of detected.parentDirs) expect(await pathExists(dir)).toBe(false);
    await rm(dataDir, { recursive: true, force: true });
  });

  it("launches a confined satellite that serves gRPC health", async () => {
    const mode = await provider.cgroupMode();
    expect(mode.mode).not.toBe("none");
    const launched = await provider.launch(spec("sat-a"));
    expect(launched).toMatchObject({ hibernate: true, limitsEnforced: true });
    id = launched.instanceId;

    const info = await provider.describe(id);
    expect(info.state).toBe("running");
    expect(info.upstream).toMatch(/^127\.0\.0\.1:231\d\d$/);
    upstream = info.upstream ?? "";
    expect(await waitHealthy(upstream, { totalMs: 20_000 })).toBe(true);

    const s = await state();
    pid = s.pid ?? 0;
    expect(pid).toBeGreaterThan(0);
    expect(s).toMatchObject({ port: Number(upstream.split(":")[1]), desired: "running", limits: limits() });

    // In the satellite's own group in every hierarchy, before serving anything.
    const c = await cg();
    const membership = await read(`/proc/${pid}/cgroup`);
    expect(membership).toContain(`/${cgroupParent}/${id}`);
    const quota = String(Math.round(0.5 * cpus().length * 100_000));
    if (c.mode === "v1") {
      expect(membership).toMatch(new RegExp(`:cpu[^:]*:/${cgroupParent}/${id}$`, "m"));
      expect(membership).toMatch(new RegExp(`:memory:/${cgroupParent}/${id}$`, "m"));
      expect(await read(join(c.cpu, "cpu.cfs_quota_us"))).toBe(quota);
      expect(await read(join(c.memory, "memory.limit_in_bytes"))).toBe(String(512 * MiB));
      if (await pathExists(join(c.memory, "memory.memsw.limit_in_bytes")))
        expect(await read(join(c.memory, "memory.memsw.limit_in_bytes"))).toBe(String(640 * MiB));
    } else {
      expect(await read(join(c.cpu, "cpu.max"))).toBe(`${quota} 100000`);
      expect(await read(join(c.memory, "memory.max"))).toBe(String(512 * MiB));
    }
    expect(await read(`/proc/${pid}/oom_score_adj`)).toBe("300");
    // The program's output goes to its log, not to the worker.
    expect(await read(join(dataDir, id, "satellite.log"))).toContain(`listening ${upstream}`);
  });

  it("start on a running instance is a no-op", async () => {
    expect(await provider.start(id)).toEqual({ instanceId: id, state: "running", upstream, resumed: true });
    expect((await state()).pid).toBe(pid);
  });

  it("hibernates by freezing the same process and resumes it without a restart", async () => {
    await provider.stop(id, { hibernate: true });
    expect(await provider.describe(id)).toEqual({ instanceId: id, state: "hibernated", upstream: null });
    const c = await cg();
    expect(c.freezer, "a freezer (v1 hierarchy or v2 cgroup.freeze)").not.toBeNull();
    expect(await isFrozen(c)).toBe(true);
    expect(await alive(pid)).toBe(true);
    expect(await probeHealth(upstream, { timeoutMs: 500 })).toBe("UNREACHABLE");
    // Hibernating a hibernated instance is success.
    await provider.stop(id, { hibernate: true });

    expect(await provider.start(id)).toEqual({ instanceId: id, state: "running", upstream, resumed: true });
    expect((await state()).pid).toBe(pid);
    expect(await probeHealth(upstream, { timeoutMs: 2000 })).toBe("SERVING");
    expect(await isFrozen(c)).toBe(false);
  });

  it("applies limits to the live process", async () => {
    const next = limits({ cpuPercent: 25, memoryMiB: 384, swapMiB: 0, oomScoreAdj: 100 });
    expect(await provider.applyLimits(id, next, { platform: "amd64", size: "small" })).toEqual({
      applied: true,
      enforced: true,
      oomScoreEnforced: true,
    });
    const c = await cg();
    const quota = String(Math.round(0.25 * cpus().length * 100_000));
    if (c.mode === "v1") {
      expect(await read(join(c.cpu, "cpu.cfs_quota_us"))).toBe(quota);
      expect(await read(join(c.memory, "memory.limit_in_bytes"))).toBe(String(384 * MiB));
    } else {
      expect(await read(join(c.cpu, "cpu.max"))).toBe(`${quota} 100000`);
      expect(await read(join(c.memory, "memory.max"))).toBe(String(384 * MiB));
    }
    expect(await read(`/proc/${pid}/oom_score_adj`)).toBe("100");
    expect((await state()).limits).toEqual(next);
    expect(await probeHealth(upstream, { timeoutMs: 2000 })).toBe("SERVING");
  });

  it("stops the process, keeps the port, and starts a new process on it", async () => {
    await provider.stop(id, { hibernate: false });
    expect(await alive(pid)).toBe(false);
    expect(await provider.describe(id)).toEqual({ instanceId: id, state: "stopped", upstream: null });
    expect(await probeHealth(upstream, { timeoutMs: 500 })).toBe("UNREACHABLE");
    await provider.stop(id, { hibernate: false });
    await provider.stop(id, { hibernate: true });
    expect((await provider.describe(id)).state).toBe("stopped");

    // A stopped instance takes limits now: its cgroup files change even with nobody in it.
    const whileStopped = limits({ cpuPercent: 30, memoryMiB: 320 });
    expect(await provider.applyLimits(id, whileStopped, { platform: "amd64", size: "small" })).toEqual({
      applied: true,
      enforced: true,
      oomScoreEnforced: true,
    });
    const c = await cg();
    const memFile = c.mode === "v1" ? "memory.limit_in_bytes" : "memory.max";
    expect(await read(join(c.memory, memFile))).toBe(String(320 * MiB));
    expect((await provider.describe(id)).state).toBe("stopped");

    // Limits saved while stopped are written before the process starts.
    const pending = limits({ cpuPercent: 40, memoryMiB: 448, oomScoreAdj: 200 });
    expect(await provider.start(id, { pendingLimits: pending })).toEqual({ instanceId: id, state: "running", upstream });
    const s = await state();
    expect(s.pid).not.toBe(pid);
    pid = s.pid ?? 0;
    expect(s.limits).toEqual(pending);
    expect(await read(`/proc/${pid}/oom_score_adj`)).toBe("200");
    expect(await read(join(c.memory, memFile))).toBe(String(448 * MiB));
    expect(await read(`/proc/${pid}/cgroup`)).toContain(`/${cgroupParent}/${id}`);
    expect(await waitHealthy(upstream, { totalMs: 20_000 })).toBe(true);
  });

  it("is picked up from disk by a new provider (a restarted worker)", async () => {
    const restarted = createLocalProvider(options);
    expect(await restarted.list()).toEqual([id]);
    expect(await restarted.describe(id)).toEqual({ instanceId: id, state: "running", upstream });
    await restarted.stop(id, { hibernate: true });
    expect((await provider.describe(id)).state).toBe("hibernated");
    await restarted.start(id);
    expect((await state()).pid).toBe(pid);
    await restarted.stop(id, { hibernate: false });
    expect(await alive(pid)).toBe(false);
    await restarted.start(id);
    pid = (await state()).pid ?? 0;
    expect(await waitHealthy(upstream, { totalMs: 20_000 })).toBe(true);
  });

  it("serializes concurrent calls from two workers: one process, one port", async () => {
    const other = createLocalProvider(options);
    await Promise.all([provider.stop(id, { hibernate: false }), other.stop(id, { hibernate: false })]);
    expect(await alive(pid)).toBe(false);
    const started = await Promise.all([provider.start(id), other.start(id), provider.start(id)]);
    for (const info of started) expect(info).toMatchObject({ instanceId: id, state: "running", upstream });
    // One of them started the process; the others found it running (answering at once).
    expect(started.filter((info) => !info.resumed)).toHaveLength(1);
    pid = (await state()).pid ?? 0;
    expect(await waitHealthy(upstream, { totalMs: 20_000 })).toBe(true);
    // Only one satellite (process group) lives in the group: the second start found it running.
    const procs = (await read(join((await cg()).memory, "cgroup.procs"))).split("\n");
    expect(procs).toContain(String(pid));
    const groups = await Promise.all(
      procs.map(async (p) => {
        const raw = await read(`/proc/${p}/stat`).catch(() => "");
        return raw.slice(raw.lastIndexOf(")") + 2).split(" ")[2] ?? "";
      }),
    );
    expect(new Set(groups.filter(Boolean))).toEqual(new Set([String(pid)]));
  });

  it("takes over the lock of a worker that died holding it (a link naming it, or an earlier version's file)", async () => {
    await symlink("999999999 1", join(dataDir, id, "lock"));
    await provider.stop(id, { hibernate: true });
    expect((await provider.describe(id)).state).toBe("hibernated");
    await writeFile(join(dataDir, id, "lock"), "999999999 1");
    await provider.start(id);
    expect(await pathExists(join(dataDir, id, "lock"))).toBe(false);
  });

  it("reports a crashed process as stopped and restarts it", async () => {
    process.kill(pid, "SIGKILL");
    // Until its last thread is gone it is "stopping"; then "stopped", for the reconciler to act.
    await until(async () => (await provider.describe(id)).state === "stopped");
    expect(await alive(pid)).toBe(false);
    // Stopped, and said to have stopped on its own (the reconciler records a failure, not a sleep).
    expect(await provider.describe(id)).toEqual({ instanceId: id, state: "stopped", upstream: null, failure: `the satellite's process (pid ${pid}) exited on its own` });
    await provider.start(id);
    const s = await state();
    expect(s.crashes).toBe(1);
    expect(s.pid).not.toBe(pid);
    pid = s.pid ?? 0;
    expect(await waitHealthy(upstream, { totalMs: 20_000 })).toBe(true);
  });

  it("launches from a worker process that then exits: the satellite survives it", async () => {
    const script = `
      const { createLocalProvider } = await import(${JSON.stringify(new URL("../src/local.ts", import.meta.url).pathname)});
      const p = createLocalProvider(${JSON.stringify(options)});
      const l = await p.launch({ satelliteId: "sat-worker", orgId: "o", name: "w", platform: "amd64", size: "small",
        limits: ${JSON.stringify(limits())}, hibernate: true });
      console.log(l.instanceId);`;
    const { stdout } = await run(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      cwd: process.cwd(),
    });
    const launched = stdout.trim();
    const info = await provider.describe(launched);
    expect(info.state).toBe("running");
    expect(await waitHealthy(info.upstream ?? "", { totalMs: 20_000 })).toBe(true);
    await provider.stop(launched, { hibernate: true });
    await provider.start(launched);
    await provider.terminate(launched);
    expect((await provider.describe(launched)).state).toBe("terminated");
  });

  it("returns the existing instance when a launch is repeated", async () => {
    const again = await provider.launch(spec("sat-a"));
    expect(again.instanceId).toBe(id);
    expect((await state()).pid).toBe(pid);
  });

  it("terminates from a new provider: process, cgroup and state go", async () => {
    const c = await cg();
    const restarted = createLocalProvider(options);
    await restarted.terminate(id);
    expect(await alive(pid)).toBe(false);
    for (const dir of [c.cpu, c.memory, c.freezer]) if (dir) expect(await pathExists(dir)).toBe(false);
    expect(await pathExists(join(dataDir, id))).toBe(false);
    expect(await provider.describe(id)).toEqual({ instanceId: id, state: "terminated", upstream: null });
    await restarted.terminate(id);
    await provider.terminate(id);
    await expect(provider.start(id)).rejects.toBeInstanceOf(PermanentProviderError);
    await expect(provider.stop(id, { hibernate: false })).rejects.toBeInstanceOf(PermanentProviderError);
    await expect(provider.applyLimits(id, limits(), { platform: "amd64", size: "small" })).rejects.toBeInstanceOf(
      PermanentProviderError,
    );
  });

  it("treats unknown ids as missing", async () => {
    for (const unknown of ["local-000000000000", "../../etc", "i-0123456789abcdef0"]) {
      expect(await provider.describe(unknown)).toEqual({ instanceId: unknown, state: "missing", upstream: null });
      await provider.terminate(unknown);
      await expect(provider.start(unknown)).rejects.toMatchObject({ code: "NotFound" });
    }
  });

  it("stops (does not hibernate) an instance launched without hibernation", async () => {
    const launched = await provider.launch(spec("sat-b", { hibernate: false }));
    expect(launched.hibernate).toBe(false);
    const first = await provider.describe(launched.instanceId);
    await provider.stop(launched.instanceId, { hibernate: true });
    expect((await provider.describe(launched.instanceId)).state).toBe("stopped");
    // The port stays the instance's.
    expect((await provider.start(launched.instanceId)).upstream).toBe(first.upstream);
    await provider.terminate(launched.instanceId);
  });

  it("resize: a hibernated instance ends its frozen process, keeps its id and port, and starts under the new spec and limits", async () => {
    const launched = await provider.launch(spec("sat-resize"));
    const rid = launched.instanceId;
    const before = await provider.describe(rid);
    const read0 = JSON.parse(await read(join(dataDir, rid, "state.json"))) as LocalState;
    await provider.stop(rid, { hibernate: true });
    expect((await provider.describe(rid)).state).toBe("hibernated");

    const bigger = limits({ memoryMiB: 640, cpuPercent: 60 });
    const next = spec("sat-resize", { size: "large", platform: "arm64", limits: bigger, hibernate: false });
    expect(await provider.resize(rid, next)).toEqual({ instanceId: rid, hibernate: false, limitsEnforced: true, oomScoreEnforced: true });
    expect(await alive(read0.pid!)).toBe(false);
    expect(await provider.describe(rid)).toEqual({ instanceId: rid, state: "stopped", upstream: null });
    const after = JSON.parse(await read(join(dataDir, rid, "state.json"))) as LocalState;
    expect(after).toMatchObject({ spec: next, limits: bigger, desired: "stopped", pid: null, port: read0.port });
    const c = after.cgroup!;
    expect(await read(join(c.memory, c.mode === "v1" ? "memory.limit_in_bytes" : "memory.max"))).toBe(String(640 * MiB));
    // Idempotent: a re-run job changes nothing.
    expect(await provider.resize(rid, next)).toEqual({ instanceId: rid, hibernate: false, limitsEnforced: true, oomScoreEnforced: true });

    const started = await provider.start(rid);
    expect(started.upstream).toBe(before.upstream);
    expect(await waitHealthy(started.upstream!, { totalMs: 15_000 })).toBe(true);
    const running = JSON.parse(await read(join(dataDir, rid, "state.json"))) as LocalState;
    expect(running.pid).not.toBe(read0.pid);
    expect(running.crashes).toBe(0);
    // Launched without hibernation now: a stop ends the process.
    await provider.stop(rid, { hibernate: true });
    expect((await provider.describe(rid)).state).toBe("stopped");
    await provider.terminate(rid);
  });

  it("says the OOM score adjustment is applied exactly when the daemon really has it", async () => {
    // −500 needs CAP_SYS_RESOURCE (a root host has it; an unprivileged container does not).
    const launched = await provider.launch(spec("sat-oom-score", { limits: limits({ oomScoreAdj: -500 }) }));
    const s = JSON.parse(await read(join(dataDir, launched.instanceId, "state.json"))) as LocalState;
    const has = async () => read(`/proc/${s.pid}/oom_score_adj`);
    await until(async () => (await has()) === "-500" || (await read(join(dataDir, launched.instanceId, "satellite.log")).catch(() => "")).includes("cannot set oom_score_adj"), 10_000);
    expect(launched.oomScoreEnforced).toBe((await has()) === "-500");
    // 0 and above: any process may give it.
    const outcome = await provider.applyLimits(launched.instanceId, limits({ oomScoreAdj: 100 }), { platform: "amd64", size: "small" });
    expect(outcome.oomScoreEnforced).toBe(true);
    expect(await has()).toBe("100");
    // Back to −500: as the launch said.
    expect((await provider.applyLimits(launched.instanceId, limits({ oomScoreAdj: -500 }), { platform: "amd64", size: "small" })).oomScoreEnforced).toBe(launched.oomScoreEnforced);
    expect((await has()) === "-500").toBe(launched.oomScoreEnforced);
    await provider.terminate(launched.instanceId);
  });

  it("a daemon the OOM killer kills is reported dead, and described as killed for memory at its limit", async () => {
    // The daemon itself fills a 400 MiB buffer against a 256 MiB limit (no swap).
    const hungry = createLocalProvider({ ...options, command: "dd if=/dev/zero of=/dev/null bs=400M count=1" });
    const deaths: string[] = [];
    const kills: string[] = [];
    const unwatch = hungry.watch!({ death: (m) => deaths.push(m.instanceId), memoryKills: (m) => kills.push(...m.kills.map((k) => `${m.instanceId} ${k.process}`)) });
    try {
      const launched = await hungry.launch(spec("sat-oom", { limits: limits({ memoryMiB: 256, swapMiB: 0 }) }));
      const pid = (JSON.parse(await read(join(dataDir, launched.instanceId, "state.json"))) as LocalState).pid;
      await until(async () => deaths.includes(launched.instanceId), 15_000);
      expect(kills).toContain(`${launched.instanceId} dd`);
      expect(await hungry.describe(launched.instanceId)).toEqual({
        instanceId: launched.instanceId, state: "stopped", upstream: null,
        failure: `the satellite's process (pid ${pid}) was killed by the kernel's OOM killer: it reached the 256 MiB memory limit`,
      });
      await hungry.terminate(launched.instanceId);
    } finally {
      unwatch();
    }
  });

  it("runs a configured command with {host} and {port}", async () => {
    const custom = createLocalProvider({
      ...options,
      command: `${process.execPath} -e "require('net').createServer().listen({ host: '{host}', port: {port} }, () => console.log('up'))"`,
    });
    const launched = await custom.launch(spec("sat-c"));
    const info = await custom.describe(launched.instanceId);
    const [host, port] = (info.upstream ?? "").split(":");
    await until(
      () =>
        new Promise<boolean>((resolve) => {
          const socket = connect({ host, port: Number(port) }, () => {
            socket.destroy();
            resolve(true);
          });
          socket.on("error", () => resolve(false));
        }),
    );
    await custom.terminate(launched.instanceId);
  });

  it("a program that exits at once is reported stopped, with its output in the log", async () => {
    const failing = createLocalProvider({ ...options, command: "echo boom on {port} >&2; exit 3" });
    const launched = await failing.launch(spec("sat-d"));
    await until(async () => (await failing.describe(launched.instanceId)).state === "stopped");
    expect(await read(join(dataDir, launched.instanceId, "satellite.log"))).toMatch(/boom on 231\d\d/);
    await failing.terminate(launched.instanceId);
  });
});
