// Keeping a local satellite's processes inside its cgroup(s): the group exists and carries the
// limits, the OOM score is set, and nothing it started (build steps included) outlives it.
import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { cgroupExists, cgroupPids, isFrozen, thaw, withProcessCap, writeLimits, type CgroupHost } from "./cgroup.ts";
import { errno } from "./local-errors.ts";
import { processStatus, terminateProcess, type ProcessRef, type ProcessStatus } from "./local-process.ts";
import type { LocalState } from "./local-state.ts";

export interface Confinement {
  cgroups: () => Promise<CgroupHost>;
  cpuCount: number;
  /** Processes one satellite may have (pids.max). */
  pidsMax: number;
  /** How long a stop waits after SIGTERM before SIGKILL. */
  graceMs: number;
  /** The lowest OOM score adjustment this process can give a daemon (lowestOomScoreAdj). */
  oomScoreFloor: number;
}

const CAP_SYS_RESOURCE = 24n;

/**
 * The lowest oom_score_adj this process can give the daemons it starts: any (−1000) with
 * CAP_SYS_RESOURCE; without it (an unprivileged container) only its own, which they inherit.
 */
export function lowestOomScoreAdj(status = readProc("/proc/self/status"), own = readProc("/proc/self/oom_score_adj")): number {
  const caps = /^CapEff:\s*([0-9a-f]+)$/m.exec(status ?? "");
  if (caps && (BigInt(`0x${caps[1]}`) >> CAP_SYS_RESOURCE) & 1n) return -1000;
  const value = Number((own ?? "").trim());
  return Number.isInteger(value) ? value : 0;
}

function readProc(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
}

export function refOf(s: LocalState): ProcessRef | null {
  return s.pid !== null && s.startTime !== null ? { pid: s.pid, startTime: s.startTime } : null;
}

export async function hibernated(s: LocalState, status: ProcessStatus): Promise<boolean> {
  if (status === "stopped") return true;
  return status === "alive" && s.cgroup !== null && (await isFrozen(s.cgroup));
}

/**
 * Makes sure the instance's cgroup exists (groups vanish on reboot) and carries its limits.
 * A new group is only made for a process not running yet: one already running outside any
 * group stays unconfined until its next start.
 */
export async function ensureCgroup(c: Confinement, s: LocalState, running: boolean): Promise<void> {
  if (s.cgroup && !(await cgroupExists(s.cgroup))) s.cgroup = running ? null : await (await c.cgroups()).create(s.instanceId);
  else if (!s.cgroup && !running) s.cgroup = await (await c.cgroups()).create(s.instanceId);
  if (s.cgroup) {
    s.cgroup = await withProcessCap(s.cgroup);
    await writeLimits(s.cgroup, s.limits, c.cpuCount, c.pidsMax);
  }
}

export async function writeOomScoreAdj(pid: number, value: number): Promise<void> {
  try {
    await writeFile(`/proc/${pid}/oom_score_adj`, String(value));
  } catch (err) {
    // Lowering it needs privilege; the fallback mode runs unprivileged.
    if (errno(err) !== "EACCES" && errno(err) !== "EPERM" && errno(err) !== "ENOENT") throw err;
  }
}

/** Anything still in the groups once the main process is gone (a daemonized child, a build step). */
export async function killLeftovers(s: LocalState): Promise<void> {
  if (!s.cgroup) return;
  // Frozen (v1) tasks do not act on SIGKILL.
  await thaw(s.cgroup);
  for (const pid of await cgroupPids(s.cgroup)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
}

/** Ends the instance's process (frozen or not) and anything left in its groups; records it stopped. */
export async function endProcess(c: Confinement, s: LocalState, ref: ProcessRef | null): Promise<void> {
  if (ref && (await processStatus(ref)) !== "dead") {
    // Frozen tasks cannot act on signals.
    if (s.cgroup) await thaw(s.cgroup);
    await terminateProcess(ref, c.graceMs);
  }
  await killLeftovers(s);
  s.pid = null;
  s.startTime = null;
  s.desired = "stopped";
}
