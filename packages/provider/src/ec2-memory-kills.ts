// OOM kills on EC2 satellites. The kernel's log stays on the instance, so user-data runs a small
// watch there (user-data.ts, renderOomWatch) that copies each oom-kill record to the serial
// console, with the boot it belongs to and the memory limit then; the jobs process reads the
// running satellites' consoles (GetConsoleOutput) every few seconds and reports the kills it has
// not reported yet. A console holds a kill for as long as the instance runs (and the watch
// replays the boot's kills after a restart), so each is reported by its id and kept once.
import { parseOomKill } from "./kernel-log.ts";
import type { MachineEvents, MemoryKill, WatchedMachine } from "./types.ts";

/** The word after the console prefix ("satellites: ") on a kill's line. */
export const OOM_CONSOLE_WORD = "oom-kill";

/** "satellites: oom-kill <boot id> <boot time, s> <limit MiB> <kmsg record>". */
const LINE = /satellites: oom-kill ([0-9a-f-]{36}) (\d+) (\d+) (\d+,\d+,\d+,[^;]*;oom-kill:.*)$/;
// eslint-disable-next-line no-control-regex -- the escape character is exactly what is stripped
const ESCAPES = /\x1b\[[0-9;]*[A-Za-z]/g;

export interface ConsoleKills {
  limitMiB: number;
  kills: MemoryKill[];
}

/**
 * The kills a console's text records, by memory limit, each once. Only the satellite's own:
 * a kill at the limit of its slice (`slice`, e.g. "/satellite.slice") or anywhere below it, or
 * one where the whole instance ran out of memory.
 */
export function consoleMemoryKills(text: string, slice: string): ConsoleKills[] {
  const byLimit = new Map<number, Map<string, MemoryKill>>();
  for (const raw of text.replace(ESCAPES, "").split(/\r?\n/)) {
    const m = LINE.exec(raw.trim());
    const kill = m ? parseOomKill(m[4]!, m[1]!, Number(m[2]) * 1000) : null;
    if (!m || !kill) continue;
    const ours = kill.limitGroup === null || kill.limitGroup === slice || kill.limitGroup.startsWith(`${slice}/`);
    if (!ours) continue;
    const limitMiB = Number(m[3]);
    const kills = byLimit.get(limitMiB) ?? new Map<string, MemoryKill>();
    kills.set(kill.id, { id: kill.id, at: kill.at, process: kill.process, hostWide: kill.limitGroup === null });
    byLimit.set(limitMiB, kills);
  }
  return [...byLimit].map(([limitMiB, kills]) => ({ limitMiB, kills: [...kills.values()] }));
}

export interface ConsoleSource {
  /** The satellites' instances that are running now. */
  running(): Promise<WatchedMachine[]>;
  /** An instance's latest console text; null when EC2 has none or refuses. */
  console(instanceId: string): Promise<string | null>;
}

/**
 * Reads every running satellite's console each `intervalMs` (one pass at a time, one call per
 * instance, paced like any describe call) and reports kills not reported yet by this process.
 * A pass that fails is simply the next pass's work. Returns a function that stops it.
 */
export function watchConsoles(source: ConsoleSource, report: NonNullable<MachineEvents["memoryKills"]>, slice: string, intervalMs: number): () => void {
  const reported = new Map<string, Set<string>>();
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;

  const pass = async () => {
    const machines = await source.running();
    for (const id of reported.keys()) if (!machines.some((m) => m.instanceId === id)) reported.delete(id);
    for (const machine of machines) {
      if (stopped) return;
      const text = await source.console(machine.instanceId);
      if (!text) continue;
      const seen = reported.get(machine.instanceId) ?? new Set<string>();
      reported.set(machine.instanceId, seen);
      for (const { limitMiB, kills } of consoleMemoryKills(text, slice)) {
        const fresh = kills.filter((k) => !seen.has(k.id));
        if (!fresh.length) continue;
        for (const k of fresh) seen.add(k.id);
        report({ ...machine, limitMiB, kills: fresh });
      }
    }
  };
  const next = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      pass().catch(() => undefined).finally(next);
    }, intervalMs);
    timer.unref();
  };
  next();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
