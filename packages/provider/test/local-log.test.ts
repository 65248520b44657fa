// A local satellite's log is rotated when it starts once it has grown too large, so a chatty
// satellite cannot fill the disk across restarts; one older file is kept for the post-mortem.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { rotateLog } from "../src/local-process.ts";

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

it("moves a log past the limit to .1 (replacing the older one) and leaves a smaller one alone", async () => {
  const dir = await mkdtemp(join(tmpdir(), "satellites-log-"));
  dirs.push(dir);
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
