// What must hold once a chaos run has settled, checked against Postgres (the product's truth)
// and the EC2 emulator (the machines that really exist). Each check returns the offenders, so
// a non-zero counter comes with what to look at.
import * as grpc from "@grpc/grpc-js";
import { limitsOf, SIZE_SPECS, type SizeName, type PlatformName } from "@satellites/catalog";
import type { Db, Satellite, SatelliteEvent } from "@satellites/db";
import type { InstanceSnapshot } from "@satellites/ec2-emulator";
import { renderDropIn, renderSlice } from "@satellites/provider/user-data";
import { isAllowed, TRANSITIONAL } from "@satellites/state";
import type { CallRecord } from "./calls.ts";

export interface Findings {
  stuck: string[];
  orphans: string[];
  history_violations: string[];
  builds_cut_by_sleep: string[];
  calls_without_clear_status: string[];
  limits_mismatch: string[];
}

/** Statuses the proxy documents (apps/proxy/README.md, docs/earthly-cli.md) for a valid token. */
const DOCUMENTED = new Set<number>([
  grpc.status.OK,
  grpc.status.UNAVAILABLE,
  grpc.status.FAILED_PRECONDITION,
  grpc.status.DEADLINE_EXCEEDED,
  grpc.status.NOT_FOUND,
]);

export interface Kill {
  proxy: number;
  at: number;
}

/**
 * `settledFrom`: when the settle began. A transition the product itself began after that (an
 * idle sleep, a wake the reconciler queued) is under way, not stuck.
 */
export async function check(db: Db, instances: InstanceSnapshot[], calls: CallRecord[], proxyKills: Kill[], satellitePort: number, settledFrom: Date): Promise<Findings> {
  const sats = await db.satellite.findMany({ orderBy: { createdAt: "asc" } });
  const events = await db.satelliteEvent.findMany({ orderBy: { id: "asc" } });
  const bySat = new Map<string, SatelliteEvent[]>();
  for (const e of events) bySat.set(e.satelliteId, [...(bySat.get(e.satelliteId) ?? []), e]);
  return {
    stuck: sats.filter((s) => TRANSITIONAL.has(s.state) && s.stateChangedAt < settledFrom).map((s) => `${s.name} ${s.id} is ${s.state} since ${s.stateChangedAt.toISOString()}`),
    orphans: orphans(sats, instances),
    history_violations: sats.flatMap((s) => historyProblems(s, bySat.get(s.id) ?? [])),
    builds_cut_by_sleep: cutBySleep(calls, proxyKills, bySat),
    calls_without_clear_status: calls.filter((c) => c.code === "hung" || !DOCUMENTED.has(c.code)).map((c) => describeCall(c)),
    limits_mismatch: limitsMismatches(sats, instances, satellitePort),
  };
}

const LIVE_INSTANCE = new Set(["pending", "running", "stopping", "stopped"]);

/** Machines no live satellite names, and satellites with more than one machine. */
export function orphans(sats: Satellite[], instances: InstanceSnapshot[]): string[] {
  const live = instances.filter((i) => LIVE_INSTANCE.has(i.state));
  const owner = new Map(sats.filter((s) => s.state !== "deleted" && s.instanceId).map((s) => [s.instanceId!, s]));
  const out: string[] = [];
  const perSat = new Map<string, string[]>();
  for (const i of live) {
    const tagged = i.tags["satellites:id"] ?? "(untagged)";
    perSat.set(tagged, [...(perSat.get(tagged) ?? []), i.instanceId]);
    const s = owner.get(i.instanceId);
    if (!s) out.push(`${i.instanceId} (${i.state}) tagged ${tagged}: no live satellite names it`);
  }
  for (const [sat, ids] of perSat) if (ids.length > 1) out.push(`satellite ${sat} has ${ids.length} machines: ${ids.join(", ")}`);
  // The other way round: a live satellite whose machine is gone is not an orphan but is wrong too.
  for (const s of sats) {
    if (!s.instanceId || ["deleted", "failed", "creating"].includes(s.state)) continue;
    if (!live.some((i) => i.instanceId === s.instanceId)) out.push(`${s.name} ${s.id} (${s.state}) names ${s.instanceId}, which does not exist`);
  }
  return out;
}

/** Events must chain (each starts where the last ended), use allowed edges, and end at the current state. */
export function historyProblems(s: Satellite, evs: SatelliteEvent[]): string[] {
  const where = `${s.name} ${s.id}`;
  if (evs.length === 0) return [`${where}: no history`];
  const out: string[] = [];
  if (evs[0]!.from !== null || evs[0]!.to !== "creating") out.push(`${where}: history starts with ${evs[0]!.from}→${evs[0]!.to}`);
  for (let i = 1; i < evs.length; i++) {
    const [a, b] = [evs[i - 1]!, evs[i]!];
    if (b.from !== a.to) out.push(`${where}: event ${b.id} leaves ${b.from} but the previous one reached ${a.to}`);
    else if (!isAllowed(b.from!, b.to, b.cause)) out.push(`${where}: event ${b.id} ${b.from}→${b.to} by ${b.cause} is not an allowed transition`);
  }
  const last = evs[evs.length - 1]!;
  if (last.to !== s.state) out.push(`${where}: history ends at ${last.to}, the satellite is ${s.state}`);
  return out;
}

/**
 * A stream the satellite was serving that ended without OK while the satellite went to sleep
 * (reached asleep or updating meanwhile), its proxy not killed meanwhile.
 */
export function cutBySleep(calls: CallRecord[], kills: Kill[], bySat: Map<string, SatelliteEvent[]>): string[] {
  const out: string[] = [];
  for (const c of calls) {
    if (c.kind !== "stream" || c.servedAt === null || c.code === grpc.status.OK) continue;
    if (kills.some((k) => k.proxy === c.proxy && k.at >= c.servedAt! && k.at <= c.ended + 1000)) continue;
    const slept = (bySat.get(c.satelliteId) ?? []).find((e) => (e.to === "asleep" || e.to === "updating") && e.finishedAt.getTime() >= c.servedAt! - 1000 && e.finishedAt.getTime() <= c.ended + 5000);
    if (slept) out.push(`${describeCall(c)}; satellite ${slept.from}→${slept.to} (${slept.cause}) at ${slept.finishedAt.toISOString()}`);
  }
  return out;
}

/**
 * For awake and asleep satellites whose limits are not pending, the machine must run exactly
 * the committed limits; every awake or asleep machine must have the satellite's size. (Limits
 * saved while awake stay pending through a sleep, by design: the next wake applies them.)
 */
export function limitsMismatches(sats: Satellite[], instances: InstanceSnapshot[], satellitePort: number): string[] {
  const out: string[] = [];
  const byId = new Map(instances.map((i) => [i.instanceId, i]));
  for (const s of sats) {
    if ((s.state !== "awake" && s.state !== "asleep") || !s.instanceId) continue;
    const where = `${s.name} ${s.id} (${s.state}, limits v${s.limitsVersion}, applied v${s.limitsAppliedVersion ?? "?"}${s.limitsPending ? ", pending" : ""})`;
    const inst = byId.get(s.instanceId);
    if (!inst) continue; // reported as an orphan problem
    const type = SIZE_SPECS[s.size as SizeName].instanceType[s.platform as PlatformName];
    if (inst.instanceType !== type) out.push(`${where}: machine is ${inst.instanceType}, size says ${type}`);
    if (s.limitsPending) continue;
    const userData = Buffer.from(inst.userData ?? "", "base64").toString();
    const ctx = { size: s.size as SizeName, platform: s.platform as PlatformName, satellitePort };
    const want = [renderSlice(limitsOf(s), ctx).split("[Slice]\n")[1]!, renderDropIn(limitsOf(s), ctx).split("\n").find((l) => l.startsWith("OOMScoreAdjust"))!];
    for (const w of want) if (!userData.includes(w)) out.push(`${where}: machine's user-data lacks ${JSON.stringify(w.trim())}`);
  }
  return out;
}

export function describeCall(c: CallRecord): string {
  const code = c.code === "hung" ? "hung" : (grpc.status[c.code] ?? String(c.code));
  return `${c.kind} to ${c.satelliteId} via proxy ${c.proxy} at ${new Date(c.began).toISOString()} for ${c.ended - c.began} ms${c.servedAt ? ` (served after ${c.servedAt - c.began} ms)` : ""}: ${code} ${c.details}`;
}
