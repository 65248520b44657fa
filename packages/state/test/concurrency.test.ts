// 50 concurrent attempts of asleep→starting from 5 processes, each with its own pool:
// exactly one wins, exactly one event is written, the rest see "lost".
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterAll, expect, it } from "vitest";
import { makeOrg, makeSatellite, testDb } from "@satellites/testing";
import { transition } from "../src/index.ts";

const db = testDb();
afterAll(() => db.$disconnect());
const contender = fileURLToPath(new URL("./fixtures/cas-contender.ts", import.meta.url));

it("50 concurrent wakes across processes: exactly one wins", async () => {
  const org = await makeOrg(db, "race");
  let sat = await makeSatellite(db, org.id);
  for (const [to, cause] of [["awake", "launch"], ["stopping", "idle"], ["asleep", "idle"]] as const) {
    sat = (await transition(db, { satellite: sat, to, cause, actor: "system" })).satellite!;
  }

  const procs = Array.from({ length: 5 }, () =>
    spawn(process.execPath, ["--import", "tsx", contender, sat.id, "10"], { env: process.env, stdio: ["pipe", "pipe", "inherit"] }),
  );
  const lines = procs.map((p) => createInterface({ input: p.stdout! })[Symbol.asyncIterator]());
  // Barrier: every process has its connections open before anyone fires.
  for (const l of lines) expect((await l.next()).value).toBe("ready");
  for (const p of procs) p.stdin!.write("go\n");
  const outcomes = (await Promise.all(lines.map(async (l) => JSON.parse((await l.next()).value as string) as string[]))).flat();
  await Promise.all(procs.map((p) => new Promise((r) => (p.exitCode !== null ? r(null) : p.once("exit", r)))));

  expect(outcomes).toHaveLength(50);
  expect(outcomes.filter((o) => o === "won")).toHaveLength(1);
  expect(outcomes.filter((o) => o === "lost")).toHaveLength(49);
  const stored = await db.satellite.findUniqueOrThrow({ where: { id: sat.id } });
  expect(stored).toMatchObject({ state: "starting", version: sat.version + 1 });
  expect(await db.satelliteEvent.count({ where: { satelliteId: sat.id, from: "asleep", to: "starting" } })).toBe(1);
});
