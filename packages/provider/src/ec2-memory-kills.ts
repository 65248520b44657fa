// OOM kills on EC2 satellites. The kernel's log stays on the instance, so user-data runs a small
// watch there (user-data.ts, renderOomWatch) that copies each oom-kill record to the serial
// console, with the boot it belongs to, the wall-clock time of the log's clock origin and the
// memory limit then. A scheduled pass (one for all
// jobs processes, apps/jobs) reads the running satellites' consoles (GetConsoleOutput) and
// reports the kills there. A console holds a kill for as long as the instance runs (and the
// watch replays the boot's kills after a restart), so each is reported by its id and kept once.
import { parseOomKill } from "./kernel-log.ts";
import type { MemoryKill, WatchedMachine } from "./types.ts";

/** The word after the console prefix ("satellites: ") on a kill's line. */
export const OOM_CONSOLE_WORD = "oom-kill";

/** "satellites: oom-kill <boot id> <wall-clock ms at the log clock's 0> <limit MiB> <kmsg record>". */
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
    const kill = m ? parseOomKill(m[4]!, m[1]!, Number(m[2])) : null;
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

export type ConsoleKillReport = WatchedMachine & ConsoleKills;

/**
 * One pass: the kills on the running satellites' consoles, one GetConsoleOutput each. At most
 * `max` consoles per pass, so a large fleet cannot take the account's whole describe budget;
 * the rest are read by the next passes (`turn` counts them). The receiver keeps each kill once:
 * a console repeats its kills at every pass.
 */
export async function readConsoleKills(source: ConsoleSource, slice: string, max: number, turn: number): Promise<ConsoleKillReport[]> {
  const chosen = share(await source.running(), max, turn);
  const reports: ConsoleKillReport[] = [];
  for (const machine of chosen) {
    const text = await source.console(machine.instanceId);
    if (!text) continue;
    for (const found of consoleMemoryKills(text, slice)) reports.push({ ...machine, ...found });
  }
  return reports;
}

/**
 * Turn `turn`'s share of the fleet, taken in turn from the machines in instance-id order: while
 * the fleet stays the same, every machine is read once every ceil(n / max) passes. (A random
 * share left some unread for many passes: with 100 machines and 20 a pass, one in ten waited 10.)
 * The turn, not a position kept in memory, decides: every jobs process may run the next pass.
 */
export function share<T extends { instanceId: string }>(machines: T[], max: number, turn: number): T[] {
  if (machines.length <= max) return machines;
  const sorted = [...machines].sort((a, b) => (a.instanceId < b.instanceId ? -1 : a.instanceId > b.instanceId ? 1 : 0));
  const start = (((turn * max) % sorted.length) + sorted.length) % sorted.length;
  return Array.from({ length: max }, (_, i) => sorted[(start + i) % sorted.length]!);
}
