// What the local provider reports without changing anything: an instance's state, the
// instances it owns, deaths and OOM kills noticed by polling, and the periodic log rotation.
import { refOf, hibernated } from "./local-confine.ts";
import { type LocalContext, logFileOf, upstreamOf } from "./local-context.ts";
import { errno } from "./local-errors.ts";
import { withInstanceLock } from "./local-lock.ts";
import { readLocalLogTail } from "./local-log.ts";
import { memoryKillWatch } from "./local-memory-kills.ts";
import { processStatus, trimLog } from "./local-process.ts";
import type { LocalState } from "./local-state.ts";
import type { InstanceInfo, MachineEvents, OwnedInstance } from "./types.ts";

export async function describe(ctx: LocalContext, id: string): Promise<InstanceInfo> {
  const s = await ctx.store.read(id);
  if (!s) return { instanceId: id, state: (await ctx.store.terminated(id)) ? "terminated" : "missing", upstream: null };
  const status = await processStatus(refOf(s));
  // A dead process we did not stop crashed; either way it is stopped now and start revives it.
  if (status === "dead") {
    const crashed = s.desired === "running" && s.pid !== null;
    return { instanceId: id, state: "stopped", upstream: null, ...(crashed ? { failure: crashReason(ctx, s.pid!) } : {}) };
  }
  if (await hibernated(s, status)) return { instanceId: id, state: "hibernated", upstream: null };
  if (status === "exiting" || s.desired === "stopped") return { instanceId: id, state: "stopping", upstream: null };
  return { instanceId: id, state: "running", upstream: upstreamOf(s) };
}

/** Why a satellite's process is gone: killed for memory when this process's watch read so. */
function crashReason(ctx: LocalContext, pid: number): string {
  const kill = ctx.oomKilled.get(pid);
  if (!kill) return `the satellite's process (pid ${pid}) exited on its own`;
  const why = kill.hostWide ? "the host ran out of memory" : `it reached the ${kill.limitMiB} MiB memory limit`;
  return `the satellite's process (pid ${pid}) was killed by the kernel's OOM killer: ${why}`;
}

export async function listOwned(ctx: LocalContext): Promise<OwnedInstance[]> {
  const out: OwnedInstance[] = [];
  for (const id of await ctx.store.list()) {
    const s = await ctx.store.read(id).catch(() => null);
    if (s) out.push({ instanceId: id, satelliteId: s.spec.satelliteId, launchedAt: new Date(s.createdAt) });
  }
  return out;
}

/**
 * A detached process has no parent here to hear its exit: check liveness (a signal 0 and a
 * /proc read per running satellite) every `watchIntervalMs`, and look for OOM kills (the new
 * kernel log records, or a cgroup counter per satellite) at the same time.
 */
export function watch(ctx: LocalContext, events: MachineEvents): () => void {
  let busy = false;
  const kills = events.memoryKills ? memoryKillWatch(events.memoryKills, ctx.opts.kernelLogPath, ctx.oomKilled) : null;
  const check = async () => {
    const states: LocalState[] = [];
    for (const id of await ctx.store.list()) {
      const s = await ctx.store.read(id).catch(() => null);
      if (s) states.push(s);
    }
    // Before the liveness check: a daemon killed for memory is reported as such, then as dead.
    await kills?.check(states);
    for (const s of states) {
      if (s.desired !== "running" || s.pid === null) continue;
      if ((await processStatus(refOf(s))) === "dead") events.death({ instanceId: s.instanceId, satelliteId: s.spec.satelliteId });
    }
  };
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    void check()
      .catch(() => {})
      .finally(() => {
        busy = false;
      });
  }, ctx.opts.watchIntervalMs ?? 1000);
  timer.unref();
  return () => {
    clearInterval(timer);
    void kills?.close().catch(() => {});
  };
}

const DIAGNOSIS_LINES = 5;
const START_MARKER = /^--- \S+ starting: /;
const DIAGNOSIS_CHARS = 600;

/**
 * The last lines its daemon wrote since it was last started (the log's own "--- … starting:"
 * marker), joined by " | " and bounded: what a failure's reason quotes.
 */
export async function diagnose(ctx: LocalContext, id: string): Promise<string | null> {
  const tail = await readLocalLogTail(ctx.opts.dataDir, id, 8192);
  const all = (tail?.text ?? "").split("\n").map((l) => l.trim());
  const start = all.findLastIndex((l) => START_MARKER.test(l));
  const lines = all.slice(start + 1).filter(Boolean).slice(-DIAGNOSIS_LINES);
  if (!lines.length) return null;
  const text = lines.join(" | ");
  return text.length > DIAGNOSIS_CHARS ? `…${text.slice(-DIAGNOSIS_CHARS)}` : text;
}

/**
 * A satellite that runs for weeks writes its log all that time: rotating only at its next
 * start would let a chatty build daemon fill the host's disk.
 */
export async function housekeeping(ctx: LocalContext): Promise<string[]> {
  const done: string[] = [];
  for (const id of await ctx.store.list()) {
    try {
      // Under the instance lock: a start rotates the same file its own way (rename).
      const rotated = await withInstanceLock(ctx.store.dir(id), async (locked) => locked && (await trimLog(logFileOf(ctx, id), ctx.opts.logLimitBytes)));
      if (rotated) done.push(`${id}: log rotated`);
    } catch (err) {
      // Deleted meanwhile.
      if (errno(err) !== "ENOENT") done.push(`${id}: log rotation failed: ${(err as Error).message}`);
    }
  }
  return done;
}
