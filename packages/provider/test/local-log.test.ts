// A local satellite's log cannot fill the disk: it is rotated when the satellite starts once it
// has grown too large, and the reconciler's housekeeping rotates it while the satellite runs
// (copy, then cut the copied part from the file in place, since the process keeps writing to the
// same file). One older file is kept for the post-mortem.
import { spawn } from "node:child_process";
import { open, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { createLocalProvider } from "../src/local.ts";
import { rotateLog, trimLog } from "../src/local-process.ts";

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
const tempDir = async () => {
  const dir = await mkdtemp(join(tmpdir(), "satellites-log-"));
  dirs.push(dir);
  return dir;
};
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

it("moves a log past the limit to .1 (replacing the older one) and leaves a smaller one alone", async () => {
  const dir = await tempDir();
  const log = join(dir, "satellite.log");
  await writeFile(`${log}.1`, "oldest");
  await writeFile(log, "x".repeat(100));
  await rotateLog(log, 1000);
  expect(await readFile(log, "utf8")).toBe("x".repeat(100));
  expect(await readFile(`${log}.1`, "utf8")).toBe("oldest");

  await writeFile(log, "y".repeat(1001));
  await rotateLog(log, 1000);
  await expect(readFile(log, "utf8")).rejects.toMatchObject({ code: "ENOENT" });
  expect(await readFile(`${log}.1`, "utf8")).toBe("y".repeat(1001));
  // No log yet (first start): nothing to do.
  await rotateLog(join(dir, "missing.log"), 1000);
});

it("rotates a log that is still being written: the writer goes on at the start of the emptied file", async () => {
  const dir = await tempDir();
  const log = join(dir, "satellite.log");
  // As the satellite holds it: opened for appending, never reopened.
  const writer = await open(log, "a");
  try {
    await writer.write("a".repeat(500));
    expect(await trimLog(log, 1000)).toBe(false);
    await writer.write("b".repeat(600));
    expect(await trimLog(log, 1000)).toBe(true);
    expect(await readFile(`${log}.1`, "utf8")).toBe("a".repeat(500) + "b".repeat(600));
    await writer.write("after\n");
    const now = await readFile(log, "utf8");
    // No hole of the old length before the new line: the file is small again.
    expect(now).toMatch(/^--- \S+ log passed 1 KiB; the earlier part is in satellite\.log\.1\nafter\n$/);
  } finally {
    await writer.close();
  }
  expect(await trimLog(join(dir, "missing.log"), 1000)).toBe(false);
});

it("a log of whole blocks keeps its last block in place (collapse-range cannot reach the end)", async () => {
  const dir = await tempDir();
  const log = join(dir, "satellite.log");
  const writer = await open(log, "a");
  try {
    await writer.write("a".repeat(4096) + "b".repeat(4096));
    expect(await trimLog(log, 1000)).toBe(true);
    await writer.write("after\n");
  } finally {
    await writer.close();
  }
  expect(await readFile(`${log}.1`, "utf8")).toBe("a".repeat(4096));
  expect(await readFile(log, "utf8")).toMatch(/^b{4096}--- \S+ log passed 1 KiB; the earlier part is in satellite\.log\.1\nafter\n$/);
});

it("rotating a log whose writer never pauses loses no line of it", async () => {
  const dir = await tempDir();
  const log = join(dir, "satellite.log");
  // Another process, appending numbered lines as fast as it can (one write each, O_APPEND).
  const writer = spawn("/bin/sh", ["-c", `i=0; while :; do echo $i; i=$((i+1)); done >> '${log}'`], { stdio: "ignore" });
  try {
    const deadline = Date.now() + 10_000;
    while ((await stat(log).catch(() => ({ size: 0 }))).size < 200_000) {
      if (Date.now() > deadline) throw new Error("the writer did not write");
      await sleep(5);
    }
    expect(await trimLog(log, 100_000)).toBe(true);
    await sleep(100);
  } finally {
    writer.kill("SIGKILL");
    await new Promise((resolve) => writer.once("exit", resolve));
  }
  const older = await readFile(`${log}.1`, "utf8");
  const now = await readFile(log, "utf8");
  expect(older.length).toBeGreaterThan(100_000);
  // The files split the output at a block boundary, maybe inside a line: joined, every number
  // from 0 on is there exactly once and in order (copytruncate drops those written between its
  // copy and its truncate; a copy left in the live file would repeat them), with the rotation's
  // notice among them.
  const lines = (older + now).split("\n").filter((l) => l !== "");
  const notices = lines.filter((l) => l.startsWith("--- "));
  expect(notices).toEqual([expect.stringMatching(/log passed 98 KiB; the earlier part is in satellite\.log\.1$/)]);
  const numbers = lines.filter((l) => !l.startsWith("--- ")).map(Number);
  expect(numbers.length).toBeGreaterThan(20_000);
  const gaps = numbers.flatMap((n, i) => (n === i ? [] : [`line ${i} is ${n}`]));
  expect(gaps.slice(0, 3)).toEqual([]);
});

it("housekeeping rotates the log of a satellite that keeps running", async () => {
  const dataDir = await tempDir();
  const noCgroups = await tempDir();
  // A chatty satellite: 300 KB of output at start, then more every 50 ms, never restarting.
  const command = `head -c 300000 /dev/zero | tr '\\0' x; echo; while :; do echo still running on {port}; sleep 0.05; done`;
  const provider = createLocalProvider({ dataDir, command, portRange: [23400, 23449], stopGraceMs: 1000, logLimitBytes: 100_000, cgroupRoot: noCgroups });
  const { instanceId } = await provider.launch({
    satelliteId: "sat-log",
    orgId: "org-1",
    name: "sat-log",
    platform: "arm64",
    size: "small",
    hibernate: false,
    limits: { cpuPercent: 50, memoryMiB: 512, swapMiB: 0, diskGiB: 20, oomScoreAdj: 0, idleTimeoutSeconds: 60 },
  });
  try {
    const log = join(dataDir, instanceId, "satellite.log");
    const deadline = Date.now() + 10_000;
    while ((await stat(log)).size < 300_000) {
      if (Date.now() > deadline) throw new Error("the satellite did not write its output");
      await sleep(20);
    }
    const pid = JSON.parse(await readFile(join(dataDir, instanceId, "state.json"), "utf8")).pid as number;

    expect(await provider.housekeeping!()).toEqual([`${instanceId}: log rotated`]);
    // The copied part, cut at a block boundary (what follows it stays in the live file).
    expect((await stat(`${log}.1`)).size).toBeGreaterThan(300_000 - 4096);
    await sleep(200);
    const after = await readFile(log, "utf8");
    expect(after.length).toBeLessThan(10_000);
    expect(after).toMatch(/still running on \d+\n$/);
    // Same process, still writing: nothing was restarted to rotate.
    expect((await provider.describe(instanceId)).state).toBe("running");
    expect(JSON.parse(await readFile(join(dataDir, instanceId, "state.json"), "utf8")).pid).toBe(pid);
    // Below the limit again: the next pass leaves it alone.
    expect(await provider.housekeeping!()).toEqual([]);
  } finally {
    await provider.terminate(instanceId);
  }
});
