// OOM kills seen by the local provider's watch: a process killed at a group's memory limit, as a
// build step is, is read back from the real kernel log with its name and groups and attributed
// to the satellite whose group holds it; without the kernel log, cgroup v2's counters stand in.
import { mkdir, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultLimits } from "@satellites/catalog";
import { detectCgroups, removeCgroup, writeLimits, type CgroupHost, type CgroupSet } from "../src/cgroup.ts";
import { openKernelLog, parseOomKill } from "../src/kernel-log.ts";
import { memoryKillWatch } from "../src/local-memory-kills.ts";
import type { LocalState } from "../src/local-state.ts";
import type { MachineEvents } from "../src/types.ts";
import { memoryHogInStep } from "./memory-hog.ts";

const isRoot = process.getuid?.() === 0;
type Reported = Parameters<NonNullable<MachineEvents["memoryKills"]>>[0];

const stateOf = (instanceId: string, cgroup: CgroupSet | null): LocalState =>
  ({ instanceId, spec: { satelliteId: `sat-${instanceId}` }, limits: { ...defaultLimits("small"), memoryMiB: 32 }, cgroup, desired: "running", pid: null }) as unknown as LocalState;

describe("kernel log records", () => {
  const boot = "b0075eed-0000-4000-8000-000000000000";
  it("reads a memcg OOM kill: the limit's group, the killed process's group, name and pid", () => {
    const record =
      "6,535,491262773,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0-1,3,oom_memcg=/satellites/local-a,task_memcg=/satellites/local-a/buildkit/x1,task=my, task,pid=16024,uid=0\n";
    expect(parseOomKill(record, boot, 1_000_000)).toEqual({
      id: `${boot}:535`, at: new Date(1_000_000 + 491_262), limitGroup: "/satellites/local-a", taskGroup: "/satellites/local-a/buildkit/x1", process: "my, task", pid: 16024,
    });
  });

  it("reads a host-wide OOM kill (no limit group) and ignores every other record", () => {
    const global = "6,9,5000000,-;oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,task_memcg=/satellites/local-b,task=buildkitd,pid=77,uid=0";
    expect(parseOomKill(global, boot, 0)).toMatchObject({ limitGroup: null, taskGroup: "/satellites/local-b", process: "buildkitd", pid: 77 });
    expect(parseOomKill("3,536,491262789,-;Memory cgroup out of memory: Killed process 16024 (dd) total-vm:68512kB", boot, 0)).toBeNull();
    expect(parseOomKill("not a record", boot, 0)).toBeNull();
  });
});

describe.runIf(isRoot)("a process killed at a group's memory limit, on this host", () => {
  const parent = `satellites-test-oom-${process.pid}`;
  let host: CgroupHost;
  let set: CgroupSet | null = null;

  beforeAll(async () => {
    host = await detectCgroups({ parent });
  });
  afterAll(async () => {
    if (set) await removeCgroup(set);
    await host.removeParents();
  });

  it("is reported for the satellite whose group holds it, once, with the process's name", async () => {
    set = await host.create("oom");
    expect(set).not.toBeNull();
    const group = set!;
    await writeLimits(group, { cpuPercent: 95, memoryMiB: 32, swapMiB: 0 }, 2);
    const reports: Reported[] = [];
    const watch = memoryKillWatch((r) => reports.push(r));
    const ours = stateOf("local-oom", group);
    const other = stateOf("local-other", { ...group, path: `/${parent}/other` });
    // The first check reads what the kernel log holds already: none of it is ours.
    await watch.check([other, ours]);
    expect(reports).toEqual([]);

    // A child group, as BuildKit makes one per RUN step; dd fills a 64 MiB buffer.
    expect(await memoryHogInStep(group)).toBe("SIGKILL");
    await watch.check([other, ours]);
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({ instanceId: "local-oom", satelliteId: "sat-local-oom", limitMiB: 32 });
    expect(reports[0]!.kills).toEqual([{ id: expect.stringMatching(/^[0-9a-f-]{36}:\d+$/), at: expect.any(Date), process: "dd", hostWide: false }]);
    expect(Math.abs(reports[0]!.kills[0]!.at.getTime() - Date.now())).toBeLessThan(5000);
    // Read once: the next check finds nothing new.
    await watch.check([other, ours]);
    expect(reports).toHaveLength(1);
    await watch.close();
    // A new reader (a restarted jobs process) reads the same kill again, under the same id.
    const again: Reported[] = [];
    const second = memoryKillWatch((r) => again.push(r));
    await second.check([ours]);
    expect(again.flatMap((r) => r.kills.map((k) => k.id))).toContain(reports[0]!.kills[0]!.id);
    await second.close();
  });

  it("is readable from the kernel log as root", async () => {
    const log = await openKernelLog();
    expect(log).not.toBeNull();
    await log!.close();
  });

  it("times a kill by where the log's clock started as of its read, not as of the open: the log's clock stops while the host is suspended, and the wall clock can be stepped", async () => {
    // The wall-clock time (ms) at which the log's clock read 0, as a clock says it now.
    let origin = Date.now() - Number(process.hrtime.bigint() / 1_000_000n);
    const log = await openKernelLog("/dev/kmsg", () => origin);
    expect(log).not.toBeNull();
    await log!.oomKills(); // what the buffer already holds
    // An hour suspended (a laptop running `npm start`): the wall clock went on, the log's did not.
    origin += 3_600_000;
    const task = `probe-${process.pid}`;
    // A record as the kernel writes one (root may write to the kernel log), in a group no satellite has.
    await writeFile("/dev/kmsg", `oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/${parent}-none,task_memcg=/${parent}-none/step,task=${task},pid=424242,uid=0\n`);
    const kill = (await log!.oomKills()).find((k) => k.process === task);
    await log!.close();
    expect(kill).toBeDefined();
    const logClockNow = Number(process.hrtime.bigint() / 1_000_000n);
    expect(Math.abs(kill!.at.getTime() - (origin + logClockNow))).toBeLessThan(1_000);
  });
});

describe("without the kernel log: cgroup v2 counters", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "oom-v2-"));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("reports each kill the counter adds, once; a group made anew counts again under new ids", async () => {
    const group = join(dir, "g");
    await mkdir(group);
    const v2 = (memory: string): CgroupSet => ({ mode: "v2", cpu: memory, memory, freezer: null, path: "/satellites/local-c" });
    const events = (n: number) => writeFile(join(group, "memory.events"), `low 0\nhigh 0\nmax 9\noom ${n}\noom_kill ${n}\noom_group_kill 0\n`);
    const reports: Reported[] = [];
    const watch = memoryKillWatch((r) => reports.push(r), join(dir, "no-kmsg"));
    const s = stateOf("local-c", v2(group));
    await events(0);
    await watch.check([s]);
    expect(reports).toEqual([]);
    await events(2);
    await watch.check([s]);
    const ino = String((await stat(group)).ino);
    expect(reports.flatMap((r) => r.kills.map((k) => k.id))).toEqual([`cgroup:${ino}:1`, `cgroup:${ino}:2`]);
    await watch.check([s]);
    expect(reports).toHaveLength(1);
    await events(3);
    await watch.check([s]);
    expect(reports[1]!.kills.map((k) => k.id)).toEqual([`cgroup:${ino}:3`]);
    // v1 groups have no count of their children's kills: nothing is made up for them.
    await watch.check([stateOf("local-v1", { ...v2(group), mode: "v1" })]);
    expect(reports).toHaveLength(2);
    // The group removed and made again (a reboot): it starts from one under its new inode.
    await rm(group, { recursive: true });
    await mkdir(join(dir, "placeholder"));
    await mkdir(group);
    await events(1);
    await watch.check([s]);
    const renewed = String((await stat(group)).ino);
    expect(renewed).not.toBe(ino);
    expect(reports[2]!.kills.map((k) => k.id)).toEqual([`cgroup:${renewed}:1`]);
    await watch.close();
  });
});
