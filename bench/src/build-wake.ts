// wake_build_p50_ms: a build against the asleep satellite through the proxy, from the client's
// request to the first byte of any response (BuildKit's Go client notes both). Each sample is split
// with the product's own records: request → wake committed (asleep → starting), the starting
// state (the jobs worker thaws the daemon and probes it), awake → first response byte. The same
// first-response time on an awake satellite, direct and proxied, is the floor to compare with.
// Two kinds of sleep: hibernation (the daemon frozen, the product's default on amd64; the headline
// figure) and a stopped daemon that a wake starts anew (wake_build_restart_*).
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { goBuild, type GoBuild, type GoBuildResult } from "@satellites/testing/buildkit-client";
import type { BuildWorld } from "./build-world.ts";
import { median, say } from "./harness.ts";

const WAKES = Math.max(1, Number(process.env.BENCH_BUILD_WAKES ?? 5));
const round1 = (ms: number) => Math.round(ms * 10) / 10;

async function once(base: string, b: Omit<GoBuild, "output">): Promise<GoBuildResult> {
  const output = await mkdtemp(join(base, "wake-out-"));
  try {
    return await goBuild({ ...b, output });
  } finally {
    await rm(output, { recursive: true, force: true });
  }
}

type Parts = Record<"to_wake_commit" | "starting" | "awake_to_first_byte", number[]>;

/** WAKES builds, each against the freshly put-to-sleep satellite: first-response times and their parts. */
async function wakeSeries(w: BuildWorld, base: string, build: Omit<GoBuild, "output">, label: string): Promise<{ samples: number[]; parts: Parts; extraWakes: number }> {
  const samples: number[] = [];
  const parts: Parts = { to_wake_commit: [], starting: [], awake_to_first_byte: [] };
  let extraWakes = 0;
  for (let i = 0; i < WAKES; i++) {
    await w.sleep();
    const before = await w.wakes();
    const r = await once(base, build);
    extraWakes += (await w.wakes()) - before - 1;
    const t = await w.lastWake();
    samples.push(r.first_response_ms);
    if (t) {
      parts.to_wake_commit.push(t.wokeAt - r.started_unix_ms);
      parts.starting.push(t.awakeAt - t.wokeAt);
      parts.awake_to_first_byte.push(r.started_unix_ms + r.first_response_ms - t.awakeAt);
    }
    say(`${label} wake ${i + 1}: first response ${r.first_response_ms.toFixed(1)} ms${t ? ` (wake committed +${(t.wokeAt - r.started_unix_ms).toFixed(0)} ms, starting ${t.awakeAt - t.wokeAt} ms)` : ""}`);
  }
  return { samples, parts, extraWakes };
}

const p50s = (parts: Parts) => Object.fromEntries(Object.entries(parts).map(([k, v]) => [k, v.length ? round1(median(v)) : null]));

/** Dirty page-cache KiB waiting to be written back (/proc/meminfo). */
function dirtyKib(): number {
  return Number(/^Dirty:\s+(\d+) kB/m.exec(readFileSync("/proc/meminfo", "utf8"))?.[1] ?? 0);
}

export async function measureWakes(w: BuildWorld, context: string, base: string): Promise<Record<string, unknown>> {
  // The copies before leave their outputs (hundreds of MB) for the kernel to write back over
  // the next half minute; every wake commits to Postgres, and those commits would wait behind
  // that writeback (session 23: samples 120.6, 91.4, 62.1, 34.5, 28.7 ms as it drained). The
  // wake is measured, not the previous phase's disk: flush first.
  const dirtyBefore = dirtyKib();
  execFileSync("sync");
  const direct = { addr: `tcp://${w.upstream}`, tls: { ...w.hop, serverName: "localhost" }, context };
  const proxied = { addr: `tcp://${w.proxy}`, satellite: w.satellite, context };
  const awake: Record<"direct" | "proxy", number[]> = { direct: [], proxy: [] };
  for (let i = 0; i < 3; i++) {
    awake.direct.push((await once(base, direct)).first_response_ms);
    awake.proxy.push((await once(base, proxied)).first_response_ms);
  }
  // The product's sleep on amd64: the daemon frozen with its memory; a wake thaws it.
  await w.setHibernate(true);
  const frozen = await wakeSeries(w, base, proxied, "frozen");
  // Without hibernation the daemon is stopped, and a wake starts a new one.
  await w.setHibernate(false);
  const stopped = await wakeSeries(w, base, proxied, "stopped");
  return {
    wake_build_p50_ms: round1(median(frozen.samples)),
    wake_build_ms: frozen.samples.map(round1),
    wake_build_parts_p50_ms: p50s(frozen.parts),
    wake_build_restart_p50_ms: round1(median(stopped.samples)),
    wake_build_restart_parts_p50_ms: p50s(stopped.parts),
    wake_build_extra_wakes: frozen.extraWakes + stopped.extraWakes,
    wake_build_dirty_kib_flushed: dirtyBefore,
    first_response_awake_direct_p50_ms: round1(median(awake.direct)),
    first_response_awake_proxy_p50_ms: round1(median(awake.proxy)),
  };
}
