// Which local satellites had processes killed for memory, checked at each watch poll. The
// kernel log names the killed process and its cgroup, on cgroup v1 and v2 alike; where it cannot
// be read (no CAP_SYSLOG), cgroup v2's memory.events counts the kills of a group and every group
// below it (v1 has no such count: its kills are then not seen).
import { memoryKills } from "./cgroup.ts";
import { type KernelLog, type OomKill, openKernelLog } from "./kernel-log.ts";
import type { LocalContext } from "./local-context.ts";
import type { LocalState } from "./local-state.ts";
import type { MachineEvents, MemoryKill } from "./types.ts";

type Report = NonNullable<MachineEvents["memoryKills"]>;

export interface MemoryKillWatch {
  /** Reports the kills found since the last check among these satellites (every state, not only running). */
  check(states: LocalState[]): Promise<void>;
  close(): Promise<void>;
}

/** The satellite whose cgroup holds `group` (a build step's group is below its satellite's). */
function ownerOf(states: LocalState[], group: string): LocalState | undefined {
  return states.find((s) => s.cgroup?.path && (group === s.cgroup.path || group.startsWith(`${s.cgroup.path}/`)));
}

/** How long a killed pid is remembered (for describe(): a dead daemon is noticed within seconds). */
const REMEMBER_MS = 10 * 60_000;

/** `killed`: where the pids the kernel log names are remembered (LocalContext.oomKilled). */
export function memoryKillWatch(report: Report, kernelLogPath?: string, killed?: LocalContext["oomKilled"]): MemoryKillWatch {
  let log: Promise<KernelLog | null> | undefined;
  /** Fallback counts already reported, per instance: "<group>:<kills>". */
  const counted = new Map<string, { group: string; kills: number }>();
  const send = (s: LocalState, kills: MemoryKill[]) => {
    if (kills.length) report({ instanceId: s.instanceId, satelliteId: s.spec.satelliteId, limitMiB: s.limits.memoryMiB, kills });
  };

  const fromKernelLog = (states: LocalState[], found: OomKill[]) => {
    const byInstance = new Map<LocalState, MemoryKill[]>();
    for (const k of found) {
      const owner = ownerOf(states, k.limitGroup ?? k.taskGroup);
      if (!owner) continue;
      const list = byInstance.get(owner) ?? [];
      list.push({ id: k.id, at: k.at, process: k.process, hostWide: k.limitGroup === null });
      killed?.set(k.pid, { at: k.at.getTime(), hostWide: k.limitGroup === null, limitMiB: owner.limits.memoryMiB });
      byInstance.set(owner, list);
    }
    for (const [s, kills] of byInstance) send(s, kills);
    if (killed) for (const [pid, k] of killed) if (k.at < Date.now() - REMEMBER_MS) killed.delete(pid);
  };

  const fromCounters = async (states: LocalState[]) => {
    for (const s of states) {
      const now = s.cgroup ? await memoryKills(s.cgroup) : null;
      if (!now) continue;
      const before = counted.get(s.instanceId);
      const from = before?.group === now.group ? before.kills : 0;
      counted.set(s.instanceId, now);
      const kills: MemoryKill[] = [];
      for (let n = from + 1; n <= now.kills; n++) kills.push({ id: `cgroup:${now.group}:${n}`, at: new Date(), process: null, hostWide: false });
      send(s, kills);
    }
  };

  return {
    async check(states) {
      log ??= openKernelLog(kernelLogPath);
      const kernel = await log;
      if (kernel) fromKernelLog(states, await kernel.oomKills());
      else await fromCounters(states);
    },
    async close() {
      await (await log)?.close();
    },
  };
}
