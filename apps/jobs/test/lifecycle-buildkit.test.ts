// A satellite running real BuildKit (LOCAL_BUILDKITD) through the real jobs process: launched,
// found ready over mutual TLS (the probe presents the CA's client certificate and checks the
// satellite's own name), limits reported enforced (build steps go under its cgroup), put to
// sleep with its daemon frozen, woken by a request, and deleted with nothing left behind.
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { probeHealth } from "@satellites/backend/probe";
import { requestDelete, requestSleep, requestWake } from "@satellites/lifecycle";
import type { Db } from "@satellites/db";
import { makeOrg } from "@satellites/testing";
import { requirePeer } from "@satellites/testing/peers";
import { fixtureHopProbe } from "@satellites/testing/satellite-tls";
import { jobsWorld, launchAwake, type JobsWorld } from "./harness.ts";

const isRoot = process.getuid?.() === 0;
let db: Db;
let world: JobsWorld;

beforeAll(async () => {
  if (!isRoot) return;
  world = await jobsWorld({ LOCAL_BUILDKITD: requirePeer("buildkit", "buildkitd") });
  db = world.db;
  await world.start();
}, 60_000);
afterAll(async () => {
  await world?.close();
});

const state = (id: string) => db.satellite.findUniqueOrThrow({ where: { id } });

it.runIf(isRoot)("launch → awake over mTLS → manual sleep (frozen) → wake → delete", { timeout: 120_000 }, async () => {
  const org = await makeOrg(db);
  const sat = await launchAwake(world, { orgId: org.id, name: "bk", hibernate: true, limits: { diskGiB: 7 } });
  expect(sat.limitsEnforced).toBe(true);
  const local = JSON.parse(readFileSync(path.join(world.dataDir, sat.instanceId!, "state.json"), "utf8")) as { command: string; cgroup: { freezer: string } };
  expect(local.command).toMatch(/buildkitd' --config .* --tlscacert /);
  expect(local.command).toContain("--oci-worker-gc-keepstorage 0,0,7516");
  expect(readFileSync(path.join(world.dataDir, sat.instanceId!, "buildkitd.toml"), "utf8")).toContain(`defaultCgroupParent = "/${world.cgroupParent}/${sat.instanceId}"`);
  const hop = await fixtureHopProbe(sat.id);
  expect(await probeHealth(sat.upstream!, { timeoutMs: 3000, ...hop })).toBe("SERVING");
  // Another satellite's name does not pass for this one's certificate; no certificate, no answer.
  expect(await probeHealth(sat.upstream!, { timeoutMs: 3000, ...(await fixtureHopProbe("00000000-0000-4000-8000-000000000000")) })).toBe("UNREACHABLE");
  expect(await probeHealth(sat.upstream!, { timeoutMs: 3000 })).toBe("UNREACHABLE");

  await requestSleep(db, world.queues, await state(sat.id), { cause: "manual", actor: "user:alice" });
  await expect.poll(async () => (await state(sat.id)).state, { timeout: 30_000 }).toBe("asleep");
  expect(readFileSync(path.join(local.cgroup.freezer, "freezer.state"), "utf8").trim()).toBe("FROZEN");

  await requestWake(db, world.queues, sat.id, { cause: "request", actor: "token:t" });
  await expect.poll(async () => (await state(sat.id)).state, { timeout: 30_000 }).toBe("awake");
  expect(await probeHealth((await state(sat.id)).upstream!, { timeoutMs: 3000, ...hop })).toBe("SERVING");

  await requestDelete(db, world.queues, await state(sat.id), { actor: "user:alice", force: true });
  await expect.poll(async () => (await state(sat.id)).state, { timeout: 30_000 }).toBe("deleted");
});
