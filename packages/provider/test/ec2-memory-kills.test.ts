// OOM kills on EC2 satellites: user-data's OOM watch, run by a real shell against this host's
// real kernel log, copies a real kill to the (stand-in) console; the console's text reads back
// as that kill, with the limit, the process and the time; replays, other groups' kills and the
// serial console's noise are handled; a pass reads a bounded number of consoles.
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultLimits } from "@satellites/catalog";
import { detectCgroups, removeCgroup, writeLimits, type CgroupHost, type CgroupSet } from "../src/cgroup.ts";
import { consoleDiagnosis } from "../src/ec2-console.ts";
import { consoleMemoryKills, readConsoleKills } from "../src/ec2-memory-kills.ts";
import { renderOomWatch } from "../src/user-data.ts";
import { memoryHogInStep } from "./memory-hog.ts";

const isRoot = process.getuid?.() === 0;
const boot = "b0075eed-0000-4000-8000-000000000000";
const line = (seq: number, limit: number, memcg: string, task = "busybox") =>
  `satellites: oom-kill ${boot} 1700000000000 ${limit} 6,${seq},5000000,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=${memcg},task_memcg=${memcg}/buildkit/x${seq},task=${task},pid=${100 + seq},uid=0`;

describe("a console's kills", () => {
  it("reads each kill once, by limit, with its time; only the satellite slice's and host-wide ones", () => {
    const hostWide = `satellites: oom-kill ${boot} 1700000000000 256 6,9,7000000,-;oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,task_memcg=/system.slice/sshd.service,task=sshd,pid=7,uid=0`;
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

describe("a pass over the running satellites' consoles", () => {
  it("reports each console's kills with its machine; reads at most the given number of consoles", async () => {
    const consoles: Record<string, string | null> = {
      "i-1": `${line(1, 256, "/satellite.slice")}\n`,
      "i-2": null, // EC2 refused (IAM) or has no output yet
      "i-3": `${line(2, 512, "/satellite.slice", "dd")}\n${line(3, 512, "/satellite.slice", "cc1")}\n`,
    };
    const read: string[] = [];
    const source = {
      running: async () => Object.keys(consoles).map((id) => ({ instanceId: id, satelliteId: `sat-${id}` })),
      console: async (id: string) => {
        read.push(id);
        return consoles[id] ?? null;
      },
    };
    const reports = await readConsoleKills(source, "/satellite.slice", 10, 0);
    expect(read).toEqual(["i-1", "i-2", "i-3"]);
    expect(reports.map((r) => [r.instanceId, r.satelliteId, r.limitMiB, r.kills.map((k) => k.process)])).toEqual([
      ["i-1", "sat-i-1", 256, ["busybox"]],
      ["i-3", "sat-i-3", 512, ["dd", "cc1"]],
    ]);
    // A fleet larger than a pass's share: that many consoles, each once; later passes read others.
    for (let turn = 0; turn < 6; turn++) {
      read.length = 0;
      await readConsoleKills(source, "/satellite.slice", 2, turn);
      expect(read).toHaveLength(2);
      expect(new Set(read).size).toBe(2);
    }
  });

  it("reads every console of a large fleet within ceil(fleet / share) consecutive passes, whichever pass starts", async () => {
    const fleet = Array.from({ length: 47 }, (_, i) => ({ instanceId: `i-${(i * 7919).toString(16).padStart(8, "0")}`, satelliteId: `sat-${i}` }));
    const read: string[] = [];
    // EC2 lists instances in no promised order: a different one at every pass.
    const source = {
      running: async () => [...fleet].sort(() => Math.random() - 0.5),
      console: async (id: string) => {
        read.push(id);
        return null;
      },
    };
    const passes = Math.ceil(47 / 5);
    for (let first = 1_000; first < 1_030; first++) {
      read.length = 0;
      for (let turn = first; turn < first + passes; turn++) await readConsoleKills(source, "/satellite.slice", 5, turn);
      expect(read).toHaveLength(5 * passes);
      expect(new Set(read).size, `passes ${first}…${first + passes - 1}`).toBe(47);
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
    // Two watches: one as on an instance; one that cannot read /proc/timer_list (hidden in a
    // mount namespace of its own), which falls back to the boot time.
    const consoleFile = join(dir, "console");
    const fallbackFile = join(dir, "console-fallback");
    await writeFile(consoleFile, "");
    await writeFile(fallbackFile, "");
    const watches = [
      spawn("sh", [script], { env: { ...process.env, SATELLITE_CONSOLE: consoleFile }, stdio: "ignore", detached: true }),
      spawn("unshare", ["-m", "sh", "-c", 'mount --bind /dev/null /proc/timer_list && exec sh "$0"', script], {
        env: { ...process.env, SATELLITE_CONSOLE: fallbackFile }, stdio: "ignore", detached: true,
      }),
    ];
    try {
      // A build step's group below the slice; dd fills a 64 MiB buffer against 32 MiB.
      expect(await memoryHogInStep(group)).toBe("SIGKILL");
      for (const file of [consoleFile, fallbackFile]) {
        const kills = async () => consoleMemoryKills(await readFile(file, "utf8"), group.path!);
        await expect.poll(async () => (await kills()).length, { timeout: 10_000, interval: 100 }).toBe(1);
        const [found] = await kills();
        // The limit the script was written with (the slice's MemoryMax on an instance).
        expect(found!.limitMiB).toBe(256);
        expect(found!.kills).toHaveLength(1);
        expect(found!.kills[0]).toMatchObject({ id: expect.stringMatching(/^[0-9a-f-]{36}:\d+$/), process: "dd", hostWide: false });
        // The clock's origin plus the record's time: the kill's wall-clock time, to a second or so.
        expect(Math.abs(found!.kills[0]!.at.getTime() - Date.now()), file).toBeLessThan(5000);
        // Nothing on the console but the kill's line (the kernel log's other records stay there).
        expect((await readFile(file, "utf8")).split("\n").filter((l) => l && !l.startsWith("satellites: oom-kill "))).toEqual([]);
      }
      // Both name the same kill.
      const ids = await Promise.all([consoleFile, fallbackFile].map(async (f) => consoleMemoryKills(await readFile(f, "utf8"), group.path!)[0]!.kills[0]!.id));
      expect(ids[0]).toBe(ids[1]);
    } finally {
      for (const w of watches) process.kill(-w.pid!, "SIGKILL");
    }
  });
});
