// A satellite whose disk fills up during a build, on a real BuildKit: the client is told
// BuildKit's "no space left on device", and the proxy's record of the build keeps those words
// (the dashboard marks the build "disk full" from them); a RUN step that fills it fails with its
// own exit code, and the proxy marks the build from the step's output. The satellite's data
// directory is a small tmpfs, so the disk is really full, not simulated.
import { execFile } from "node:child_process";
import { copyFile, mkdir, mkdtemp, rm, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { testDb } from "@satellites/testing";
import { requirePeer } from "@satellites/testing/peers";
import { afterAll, beforeAll, expect, it, onTestFinished } from "vitest";
import { type ProxiedBuildkit, startProxiedBuildkit } from "./proxied-buildkit.ts";

const run = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const db = testDb();
/** The satellite's whole disk: room for buildkitd's own state, not for the build's context. */
const DISK_MIB = 96;
let base = "";
let dataDir = "";
let mounted = false;
let bk: ProxiedBuildkit | undefined;
let buildctl = "";
let buildx = "";

beforeAll(async () => {
  if (!isRoot) return;
  buildctl = requirePeer("buildkit", "buildctl");
  buildx = requirePeer("buildx", "buildx");
  base = await mkdtemp(join(tmpdir(), "bkdisk-"));
  dataDir = join(base, "data");
  await mkdir(dataDir);
  await run("mount", ["-t", "tmpfs", "-o", `size=${DISK_MIB}m`, "tmpfs", dataDir]);
  mounted = true;
  bk = await startProxiedBuildkit({ label: "bkdisk", dataDir, cgroupParent: `satellites-test-bkdisk-${process.pid}`, diskGiB: 20 });
}, 120_000);

afterAll(async () => {
  await bk?.close();
  if (mounted) await run("umount", ["-l", dataDir]).catch(() => {});
  if (base) await rm(base, { recursive: true, force: true });
  await db.$disconnect();
}, 60_000);

it.runIf(isRoot)("a RUN step that fills the satellite's disk: the build fails with the step's exit code, and its record is marked out of space from the step's own output", { timeout: 180_000 }, async () => {
  const ctx = join(base, "run-ctx");
  await mkdir(ctx);
  await copyFile("/usr/bin/busybox", join(ctx, "busybox"));
  const df = join(base, "run-df");
  await mkdir(df);
  // dd writes until the disk is full (its stderr: "No space left on device"); the step then
  // frees what it wrote, so the next build finds the disk as before, and fails.
  await writeFile(join(df, "Dockerfile"), `FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "sh", "-c", "/bin/busybox dd if=/dev/zero of=/fill bs=1M count=${2 * DISK_MIB}; /bin/busybox rm -f /fill; exit 7"]\n`);
  const failed = run(buildctl, ["--addr", `tcp://${bk!.forwarderAddress}`, "build", "--progress", "plain", "--frontend", "dockerfile.v0", "--local", `context=${ctx}`, "--local", `dockerfile=${df}`], { maxBuffer: 64 << 20 });
  const err = (await failed.then(() => undefined, (e: unknown) => e)) as { stderr?: string } | undefined;
  expect(err, "the build should fail").toBeDefined();
  // The client is told the step's exit code; the disk's words are only in the step's output.
  expect(err!.stderr).toMatch(/exit code: 7/);
  expect(err!.stderr).toMatch(/No space left on device/);

  const row = await expect
    .poll(async () => (await db.build.findFirst({ where: { satelliteId: bk!.satelliteId, endedAt: { not: null } } })) ?? undefined, { timeout: 10_000 })
    .toBeDefined()
    .then(() => db.build.findFirstOrThrow({ where: { satelliteId: bk!.satelliteId, endedAt: { not: null } } }));
  expect(row.error).toMatch(/exit code: 7/);
  expect(row.error).not.toMatch(/no space left on device/i);
  expect(row.stepOutOfSpace).toBe(true);
  await db.build.deleteMany({ where: { satelliteId: bk!.satelliteId } });
});

it.runIf(isRoot)("builds run together over one connection (docker buildx bake): one target's step fills the disk, another fails on its own, and only the first is the disk's", { timeout: 180_000 }, async () => {
  const dir = join(base, "bake");
  await mkdir(join(dir, "ctx"), { recursive: true });
  await copyFile("/usr/bin/busybox", join(dir, "ctx", "busybox"));
  const step = (script: string) => `FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "sh", "-c", ${JSON.stringify(script)}]\n`;
  // "fills" writes until the disk is full and frees it at once, then runs on; "fails", begun
  // alongside, exits 9 a moment later. bake then cancels "fills" (its first failure ends the rest).
  await writeFile(join(dir, "fills.Dockerfile"), step(`/bin/busybox sleep 1; /bin/busybox dd if=/dev/zero of=/fill bs=1M count=${2 * DISK_MIB}; /bin/busybox rm -f /fill; /bin/busybox sleep 20`));
  await writeFile(join(dir, "fails.Dockerfile"), step("/bin/busybox sleep 4; exit 9"));
  await writeFile(join(dir, "docker-bake.hcl"), ['group "default" {', '  targets = ["fills", "fails"]', "}", ...["fills", "fails"].map((t) => `target "${t}" {\n  context = "ctx"\n  dockerfile = "../${t}.Dockerfile"\n}`)].join("\n"));
  const env = { ...process.env, BUILDX_CONFIG: join(dir, "buildx-config") };
  await run(buildx, ["create", "--name", "bake", "--driver", "remote", `tcp://${bk!.forwarderAddress}`], { env });
  const since = new Date();
  onTestFinished(() => db.build.deleteMany({ where: { satelliteId: bk!.satelliteId } }).then(() => undefined));
  const baked = run(buildx, ["--builder", "bake", "bake", "--progress", "plain"], { env, cwd: dir, maxBuffer: 64 << 20 });
  const err = (await baked.then(() => undefined, (e: unknown) => e)) as { stderr?: string } | undefined;
  expect(err, "the bake should fail").toBeDefined();
  // The full disk's words went through the proxy, in "fills"'s output on the same connection.
  expect(err!.stderr).toMatch(/No space left on device/);
  expect(err!.stderr).toMatch(/ERROR: target fails: .*exit code: 9/);

  const ended = () => db.build.findMany({ where: { satelliteId: bk!.satelliteId, startedAt: { gte: since }, endedAt: { not: null } } });
  // bake's own Solve (reading the bake file), then the two targets'.
  await expect.poll(async () => (await ended()).length, { timeout: 10_000 }).toBe(3);
  const rows = await ended();
  const fails = rows.find((r) => /exit code: 9/.test(r.error ?? ""));
  expect(fails, JSON.stringify(rows.map((r) => ({ grpcCode: r.grpcCode, error: r.error })))).toBeDefined();
  expect(fails!.stepOutOfSpace).toBe(false);
  // "fills" was cancelled by bake: not a failure of its own, so not marked either.
  expect(rows.filter((r) => r.stepOutOfSpace)).toEqual([]);
});

it.runIf(isRoot)("a build's context larger than the satellite's free disk: the client gets BuildKit's 'no space left on device', and the build's record keeps it", { timeout: 180_000 }, async () => {
  // Twice the disk, sparse here (no disk of the test's spent on it): BuildKit receives it whole.
  const ctx = join(base, "ctx");
  await mkdir(ctx);
  await writeFile(join(ctx, "big.bin"), "");
  await truncate(join(ctx, "big.bin"), 2 * DISK_MIB * 2 ** 20);
  const df = join(base, "df");
  await mkdir(df);
  await writeFile(join(df, "Dockerfile"), "FROM scratch\nCOPY big.bin /big.bin\n");
  const failed = run(buildctl, ["--addr", `tcp://${bk!.forwarderAddress}`, "build", "--frontend", "dockerfile.v0", "--local", `context=${ctx}`, "--local", `dockerfile=${df}`, "--output", `type=local,dest=${join(base, "out")}`], { maxBuffer: 64 << 20 });
  await expect(failed).rejects.toThrow(/no space left on device/);

  const row = await expect
    .poll(async () => (await db.build.findFirst({ where: { satelliteId: bk!.satelliteId, endedAt: { not: null } } })) ?? undefined, { timeout: 10_000 })
    .toBeDefined()
    .then(() => db.build.findFirstOrThrow({ where: { satelliteId: bk!.satelliteId, endedAt: { not: null } } }));
  expect(row.grpcCode).not.toBe(0);
  expect(row.error).toMatch(/no space left on device/);
  expect(row.error!.length).toBeLessThanOrEqual(1_000);
  console.log(`recorded: ${JSON.stringify({ grpcCode: row.grpcCode, error: row.error })}`);
});
