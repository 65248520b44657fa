// What every operation of the local provider shares: its options, the instance store, the port
// reservations, the satellite program and how it is confined. Plus the small rules read from an
// instance's state (its address, command line, whether its limits hold) and `mutate`, the lock
// every change to an existing instance runs under.
import { availableParallelism, cpus } from "node:os";
import { join } from "node:path";
import type { CertificateAuthority } from "@satellites/pki";
import { DEFAULT_PIDS_MAX, detectCgroups, type CgroupHost } from "./cgroup.ts";
import { lowestOomScoreAdj, type Confinement } from "./local-confine.ts";
import { daemonTemplate, renderCommand, stepsConfined, type LocalDaemon } from "./local-daemon.ts";
import { providerError } from "./local-errors.ts";
import { withInstanceLock } from "./local-lock.ts";
import { DEFAULT_PORT_RANGE, PortReservations } from "./local-ports.ts";
import { StateStore, validInstanceId, type LocalState } from "./local-state.ts";
import { PermanentProviderError } from "./types.ts";

export interface LocalProviderOptions {
  /** Where instance directories live; must survive worker restarts. */
  dataDir: string;
  /** Shell command template (see renderCommand); overrides `daemon`. */
  command?: string;
  /** The satellite program: the built-in backend (default), BuildKit, or a command template. */
  daemon?: LocalDaemon;
  /**
   * The control plane's CA: each satellite gets a server certificate from it at every start and
   * accepts only clients with a certificate it issued. Without it satellites serve plaintext.
   */
  ca?: CertificateAuthority;
  /** Address satellites listen on and the upstream points at (default 127.0.0.1). */
  host?: string;
  /** Inclusive range ports are allocated from (default 21000-22999). */
  portRange?: [number, number];
  /** Where the cgroup hierarchies are mounted (default /sys/fs/cgroup). */
  cgroupRoot?: string;
  /** Name of the parent group of all satellites (default "satellites"). */
  cgroupParent?: string;
  /** Processes (threads included) one satellite may have, its build steps' too (default 4096; needs the pids controller). */
  pidsMax?: number;
  /** How long stop waits after SIGTERM before SIGKILL (default 10 s). */
  stopGraceMs?: number;
  /** Extra environment for the satellite program (it does not inherit the worker's). */
  env?: Record<string, string>;
  /** A satellite's log past this is rotated, at its start and by housekeeping (default 16 MiB). */
  logLimitBytes?: number;
  /** How often watch() checks that running satellites' processes are alive (default 1 s). */
  watchIntervalMs?: number;
  /** Where watch() reads the kernel's OOM kills (default /dev/kmsg; tests point it elsewhere). */
  kernelLogPath?: string;
}

export interface LocalContext {
  readonly opts: LocalProviderOptions;
  readonly host: string;
  readonly store: StateStore;
  readonly ports: PortReservations;
  readonly daemon: LocalDaemon;
  readonly confinement: Confinement;
  /** The daemon's command template, rendered once (it depends on whether there is a CA). */
  commandTemplate(): string;
  /**
   * Processes of satellites the kernel's OOM killer killed, as this process's watch read them,
   * by pid: a satellite whose daemon is gone is then said to have been killed for memory.
   */
  readonly oomKilled: Map<number, { at: number; hostWide: boolean; limitMiB: number }>;
}

export function localContext(opts: LocalProviderOptions): LocalContext {
  const host = opts.host ?? "127.0.0.1";
  const daemon: LocalDaemon = opts.command ? { kind: "command", template: opts.command } : (opts.daemon ?? { kind: "builtin" });
  let detected: Promise<CgroupHost> | null = null;
  let template: string | null = null;
  return {
    oomKilled: new Map(),
    opts,
    host,
    store: new StateStore(opts.dataDir),
    ports: new PortReservations(join(opts.dataDir, ".ports"), host, opts.portRange ?? DEFAULT_PORT_RANGE),
    daemon,
    confinement: {
      cgroups: () => (detected ??= detectCgroups({ root: opts.cgroupRoot, parent: opts.cgroupParent })),
      cpuCount: cpus().length || availableParallelism(),
      pidsMax: opts.pidsMax ?? DEFAULT_PIDS_MAX,
      graceMs: opts.stopGraceMs ?? 10_000,
      oomScoreFloor: lowestOomScoreAdj(),
    },
    commandTemplate: () => (template ??= daemonTemplate(daemon, opts.ca !== undefined)),
  };
}

export const upstreamOf = (s: LocalState): string => `${s.host}:${s.port}`;
export const logFileOf = (ctx: LocalContext, id: string): string => join(ctx.store.dir(id), "satellite.log");

export function commandOf(ctx: LocalContext, s: LocalState): string {
  return renderCommand(ctx.commandTemplate(), { host: s.host, port: s.port, dir: ctx.store.dir(s.instanceId), limits: s.limits });
}

/**
 * The running process was started with another command line than its limits now render
 * (a {disk…} placeholder and a changed disk limit): it must be restarted to take them.
 */
export function outdated(ctx: LocalContext, s: LocalState): boolean {
  return s.command != null && s.command !== commandOf(ctx, s);
}

/** Limits hold only when the satellite and everything it runs (build steps) is in its group. */
export function enforced(ctx: LocalContext, s: LocalState): boolean {
  return stepsConfined(ctx.daemon, s.cgroup);
}

/** The daemon gets its OOM score adjustment only when this process may give it that low a one. */
export function oomScoreEnforced(ctx: LocalContext, s: LocalState): boolean {
  return s.limits.oomScoreAdj >= ctx.confinement.oomScoreFloor;
}

async function gone(ctx: LocalContext, id: string): Promise<PermanentProviderError> {
  return (await ctx.store.terminated(id))
    ? new PermanentProviderError(`local instance ${id} was terminated`, "Terminated")
    : new PermanentProviderError(`local instance ${id} not found`, "NotFound");
}

/** Runs a mutating call on an existing instance under its lock. */
export function mutate<T>(ctx: LocalContext, id: string, what: string, fn: (s: LocalState) => Promise<T>): Promise<T> {
  if (!validInstanceId(id)) return Promise.reject(new PermanentProviderError(`local instance ${id} not found`, "NotFound"));
  return withInstanceLock(ctx.store.dir(id), async (locked) => {
    const s = locked ? await ctx.store.read(id) : null;
    if (!s) throw await gone(ctx, id);
    try {
      return await fn(s);
    } catch (err) {
      throw providerError(err, `${what} ${id}`);
    }
  });
}
