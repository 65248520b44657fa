// OOM kills on EC2 satellites: user-data's OOM watch, run by a real shell against this host's
// real kernel log, copies a real kill to the (stand-in) console; the console's text reads back
// as that kill, with the limit, the process and the time; replays, other groups' kills and the
// serial console's noise are handled; a watch of consoles reports each kill once.
import { execFile, spawn } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultLimits } from "@satellites/catalog";
import { detectCgroups, removeCgroup, writeLimits, type CgroupHost, type CgroupSet } from "../src/cgroup.ts";
import { consoleDiagnosis } from "../src/ec2-console.ts";
import { consoleMemoryKills, watchConsoles } from "../src/ec2-memory-kills.ts";
import type { MachineEvents } from "../src/types.ts";
import { renderOomWatch } from "../src/user-data.ts";

const run = promisify(execFile);
const isRoot = process.getuid?.() === 0;
type Reported = Parameters<NonNullable<MachineEvents["memoryKills"]>>[0];
const boot = "b0075eed-0000-4000-8000-000000000000";
const line = (seq: number, limit: number, memcg: string, task = "busybox") =>
  `satellites: oom-kill ${boot} 1700000000 ${limit} 6,${seq},5000000,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=${memcg},task_memcg=${memcg}/buildkit/x${seq},task=${task},pid=${100 + seq},uid=0`;

describe("a console's kills", () => {
  it("reads each kill once, by limit, with its time; only the satellite slice's and host-wide ones", () => {
    const hostWide = `satellites: oom-kill ${boot} 1700000000 256 6,9,7000000,-;oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,task_memcg=/system.slice/sshd.service,task=sshd,pid=7,uid=0`;
    const text = [
      "[    0.000000] Linux version 6.1.0",
      `\x1b[0;32m  OK  \x1b[0m] Started buildkitd.service.\r`,
      line(1, 256, "/satellite.slice"),
      line(1, 256, "/satellite.slice"), // the watch replays its boot after a restart
      line(2, 256, "/system.slice/other.service", "other"), // another unit's own limit
      hostWide,
      line(3, 512, "/satellite.slice", "dd"),
      "satellites: oom-kill garbage",
    ].join("\r\n");
    expect(consoleMemoryKills(text, "/satellite.slice")).toEqual([
      {
        limitMiB: 256,
        kills: [
          { id: `${boot}:1`, at: new Date(1_700_000_000_000 + 5000), process: "busybox", hostWide: false },
          { id: `${boot}:9`, at: new Date(1_700_000_000_000 + 7000), process: "sshd", hostWide: true },
        ],
      },
      { limitMiB: 512, kills: [{ id: `${boot}:3`, at: new Date(1_700_000_005_000), process: "dd", hostWide: false }] },
    ]);
    expect(consoleMemoryKills("no kills here\n", "/satellite.slice")).toEqual([]);
  });

  it("are not what a failed start's reason quotes", () => {
    expect(consoleDiagnosis(`satellites: buildkitd is not running: bad config\n${line(1, 256, "/satellite.slice")}\n`)).toBe("buildkitd is not running: bad config");
    expect(consoleDiagnosis(`${line(1, 256, "/satellite.slice")}\n`)).toBeNull();
  });
});

describe("a watch of the running satellites' consoles", () => {
  it("reports a kill once, however many passes read it; a console that fails is tried again", async () => {
    let consoleText = "";
    let fail = true;
    const reports: Reported[] = [];
    const stop = watchConsoles(
      {
        running: async () => [{ instanceId: "i-1", satelliteId: "sat-1" }],
        console: async () => {
          if (fail) {
            fail = false;
            throw new Error("throttled");
          }
          return consoleText;
        },
      },
      (r) => reports.push(r),
      "/satellite.slice",
      20,
    );
    try {
      consoleText = `${line(1, 256, "/satellite.slice")}\n`;
      await expect.poll(() => reports.length, { timeout: 5000, interval: 10 }).toBe(1);
      consoleText += `${line(2, 256, "/satellite.slice", "dd")}\n`;
      await expect.poll(() => reports.length, { timeout: 5000, interval: 10 }).toBe(2);
      await new Promise((r) => setTimeout(r, 200));
      expect(reports.map((r) => [r.instanceId, r.satelliteId, r.limitMiB, r.kills.map((k) => k.process)])).toEqual([
        ["i-1", "sat-1", 256, ["busybox"]],
        ["i-1", "sat-1", 256, ["dd"]],
      ]);
    } finally {
      stop();
    }
  });
});

describe.runIf(isRoot)("user-data's OOM watch, run by a real shell against this host's kernel log", () => {
  const parent = `satellites-test-ec2oom-${process.pid}`;
  let host: CgroupHost;
  let set: CgroupSet | null = null;
  let dir = "";

  beforeAll(async () => {
    host = await detectCgroups({ parent });
    dir = await mkdtemp(join(tmpdir(), "oom-watch-"));
  });
  afterAll(async () => {
    if (set) await removeCgroup(set);
    await host.removeParents();
    await rm(dir, { recursive: true, force: true });
  });

  it("copies a real kill at the slice's limit to the console, where it reads back as that kill", async () => {
    set = await host.create("slice");
    const group = set!;
    await writeLimits(group, { cpuPercent: 95, memoryMiB: 32, swapMiB: 0 }, 2);
    const script = join(dir, "oom-watch");
    await writeFile(script, renderOomWatch({ ...defaultLimits("small"), memoryMiB: 256 }, { platform: "amd64", size: "small", satellitePort: 8372 }));
    const consoleFile = join(dir, "console");
    await writeFile(consoleFile, "");
    const watch = spawn("sh", [script], { env: { ...process.env, SATELLITE_CONSOLE: consoleFile }, stdio: "ignore", detached: true });
    try {
      // A build step's group below the slice; dd fills a 64 MiB buffer against 32 MiB.
      const step = join(group.memory, "step");
      await mkdir(step);
      const hog = await run("sh", ["-c", `echo $$ > ${step}/cgroup.procs && exec dd if=/dev/zero of=/dev/null bs=64M count=1`]).then(
        () => "finished",
        (err: { signal?: string }) => err.signal,
      );
      expect(hog).toBe("SIGKILL");
      const kills = async () => consoleMemoryKills(await readFile(consoleFile, "utf8"), group.path!);
      await expect.poll(async () => (await kills()).length, { timeout: 10_000, interval: 100 }).toBe(1);
      const [found] = await kills();
      // The limit the script was written with (the slice's MemoryMax on an instance).
      expect(found!.limitMiB).toBe(256);
      expect(found!.kills).toHaveLength(1);
      expect(found!.kills[0]).toMatchObject({ id: expect.stringMatching(/^[0-9a-f-]{36}:\d+$/), process: "dd", hostWide: false });
      // Boot time from /proc/stat plus the record's clock: the kill's wall-clock time, to a second or so.
      expect(Math.abs(found!.kills[0]!.at.getTime() - Date.now())).toBeLessThan(5000);
      // Nothing on the console but the kill's line (the kernel log's other records stay there).
      expect((await readFile(consoleFile, "utf8")).split("\n").filter((l) => l && !l.startsWith("satellites: oom-kill "))).toEqual([]);
    } finally {
      process.kill(-watch.pid!, "SIGKILL");
    }
  });
});
