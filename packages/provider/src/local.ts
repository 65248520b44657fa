// The embedded provider: each satellite is a detached local process on its own loopback port,
// confined in its own cgroup(s) where the host allows it. Instances live on disk under
// `dataDir/<instanceId>/` (state.json, satellite.log), so they outlive the worker that launched
// them and any later worker can drive them. Hibernate freezes the cgroup (memory kept, same pid);
// without a usable freezer it falls back to SIGSTOP/SIGCONT, and without writable cgroups limits
// are reported as not enforced. The program is the built-in backend or BuildKit (local-daemon.ts);
// with a CA each start hands it a fresh server certificate and it takes only the CA's clients.
import { availableParallelism, cpus } from "node:os";
import { join } from "node:path";
import type { Limits } from "@satellites/catalog";
import { satelliteServerName, serverNames, type CertificateAuthority } from "@satellites/pki";
import { containsPid, detectCgroups, freeze, procsFiles, removeCgroup, thaw, writeLimits, type CgroupHost, type CgroupMode } from "./cgroup.ts";
import { endProcess, ensureCgroup, hibernated, killLeftovers, refOf, writeOomScoreAdj, type Confinement } from "./local-confine.ts";
import { daemonTemplate, renderCommand, stepsConfined, writeDaemonFiles, writeTlsFiles, type LocalDaemon } from "./local-daemon.ts";
import { errno, providerError } from "./local-errors.ts";
import { withInstanceLock } from "./local-lock.ts";
import { DEFAULT_PORT_RANGE, PortReservations, waitPortFree } from "./local-ports.ts";
import { present, processStatus, signalGroup, spawnSatellite, terminateProcess, trimLog, waitStatus, type ProcessRef } from "./local-process.ts";
import { StateStore, newInstanceId, validInstanceId, type LocalState } from "./local-state.ts";
import {
  PermanentProviderError,
  RetryableProviderError,
  type InstanceInfo,
  type Launched,
  type LaunchOptions,
  type OwnedInstance,
  type LaunchSpec,
  type LimitsOutcome,
  type Provider,
  type Resized,
  type StartOptions,
} from "./types.ts";

export { defaultLocalCommand, renderCommand, type CommandValues, type LocalDaemon } from "./local-daemon.ts";

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
  /** How long stop waits after SIGTERM before SIGKILL (default 10 s). */
  stopGraceMs?: number;
  /** Extra environment for the satellite program (it does not inherit the worker's). */
  env?: Record<string, string>;
  /** A satellite's log past this is rotated, at its start and by housekeeping (default 16 MiB). */
  logLimitBytes?: number;
  /** How often watch() checks that running satellites' processes are alive (default 1 s). */
  watchIntervalMs?: number;
}

export interface LocalProvider extends Provider {
  readonly name: "local";
  /** How limits are enforced on this host (detected on first use). */
  cgroupMode(): Promise<{ mode: CgroupMode; reason: string }>;
  /** Instance ids on disk (for the reconciler and for cleanup). */
  list(): Promise<string[]>;
}

// The satellite runs tenants' builds: it gets none of the worker's secrets (database URL, keys).
const PASSED_ENV = ["PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR"];

function satelliteEnv(s: LocalState, extra: Record<string, string> | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of PASSED_ENV) {
    const value = process.env[key];
    if (value !== undefined) env[key] = value;
  }
  return Object.assign(env, extra, {
    HOST: s.host,
    PORT: String(s.port),
    SATELLITE_ID: s.spec.satelliteId,
    SATELLITE_INSTANCE_ID: s.instanceId,
  });
}

function daemonOf(opts: LocalProviderOptions): LocalDaemon {
  if (opts.command) return { kind: "command", template: opts.command };
  return opts.daemon ?? { kind: "builtin" };
}

export function createLocalProvider(opts: LocalProviderOptions): LocalProvider {
  const host = opts.host ?? "127.0.0.1";
  const store = new StateStore(opts.dataDir);
  const ports = new PortReservations(join(opts.dataDir, ".ports"), host, opts.portRange ?? DEFAULT_PORT_RANGE);
  const daemon = daemonOf(opts);
  let detected: Promise<CgroupHost> | null = null;
  const confinement: Confinement = {
    cgroups: () => (detected ??= detectCgroups({ root: opts.cgroupRoot, parent: opts.cgroupParent })),
    cpuCount: cpus().length || availableParallelism(),
    graceMs: opts.stopGraceMs ?? 10_000,
  };
  let template: string | null = null;
  const commandTemplate = () => (template ??= daemonTemplate(daemon, opts.ca !== undefined));

  const upstream = (s: LocalState) => `${s.host}:${s.port}`;
  const logFile = (id: string) => join(store.dir(id), "satellite.log");
  const commandOf = (s: LocalState) => renderCommand(commandTemplate(), { host: s.host, port: s.port, dir: store.dir(s.instanceId), limits: s.limits });
  /**
   * The running process was started with another command line than its limits now render
   * (a {disk…} placeholder and a changed disk limit): it must be restarted to take them.
   */
  const outdated = (s: LocalState) => s.command != null && s.command !== commandOf(s);
  /** Limits hold only when the satellite and everything it runs (build steps) is in its group. */
  const enforced = (s: LocalState) => stepsConfined(daemon, s.cgroup);

  async function gone(id: string): Promise<PermanentProviderError> {
    return (await store.terminated(id))
      ? new PermanentProviderError(`local instance ${id} was terminated`, "Terminated")
      : new PermanentProviderError(`local instance ${id} not found`, "NotFound");
  }

  /** Runs a mutating call on an existing instance under its lock. */
  function mutate<T>(id: string, what: string, fn: (s: LocalState) => Promise<T>): Promise<T> {
    if (!validInstanceId(id)) return Promise.reject(new PermanentProviderError(`local instance ${id} not found`, "NotFound"));
    return withInstanceLock(store.dir(id), async (locked) => {
      const s = locked ? await store.read(id) : null;
      if (!s) throw await gone(id);
      try {
        return await fn(s);
      } catch (err) {
        throw providerError(err, `${what} ${id}`);
      }
    });
  }

  /** A fresh server certificate (the CA may have been replaced) and the daemon's config files. */
  async function prepareFiles(s: LocalState): Promise<void> {
    const dir = store.dir(s.instanceId);
    if (opts.ca) {
      // The proxy verifies the satellite's own name; the address is there for direct tools (buildctl).
      const names = serverNames([...new Set([satelliteServerName(s.spec.satelliteId), s.host, "localhost"])]);
      await writeTlsFiles(dir, await opts.ca.issueServer(`satellite ${s.spec.satelliteId}`, names));
    }
    await writeDaemonFiles(dir, daemon, s.cgroup);
  }

  async function spawnInstance(s: LocalState): Promise<void> {
    await killLeftovers(s);
    // The previous process may still be releasing it (sockets close with its last thread).
    if (!(await waitPortFree(s.host, s.port, 3000)))
      throw new RetryableProviderError(`port ${s.host}:${s.port} of ${s.instanceId} is taken by another process`, "PortInUse");
    await prepareFiles(s);
    const cgroup = s.cgroup;
    let ref: ProcessRef;
    try {
      s.command = commandOf(s);
      ref = await spawnSatellite({
        command: s.command,
        cwd: store.dir(s.instanceId),
        logFile: logFile(s.instanceId),
        logLimitBytes: opts.logLimitBytes,
        env: satelliteEnv(s, opts.env),
        procsFiles: cgroup ? procsFiles(cgroup) : [],
        oomScoreAdj: s.limits.oomScoreAdj,
        joined: cgroup ? (pid) => containsPid(cgroup, pid) : undefined,
      });
    } catch (err) {
      throw new RetryableProviderError(`spawn ${s.instanceId}: ${(err as Error).message}`, "SpawnFailed");
    }
    s.pid = ref.pid;
    s.startTime = ref.startTime;
    s.desired = "running";
    await store.write(s);
  }

  async function launch(spec: LaunchSpec, o: LaunchOptions = {}): Promise<Launched> {
    // A re-run launch job (the worker died before recording the id) gets the same instance.
    for (const id of await store.list()) {
      const existing = await store.read(id).catch(() => null);
      if (existing?.spec.satelliteId !== spec.satelliteId) continue;
      await o.onInstance?.(id, true);
      await start(id);
      const s = await store.read(id);
      return { instanceId: id, hibernate: existing.spec.hibernate, limitsEnforced: s !== null && enforced(s) };
    }
    const cg = await confinement.cgroups();
    const id = newInstanceId();
    const now = new Date().toISOString();
    const s: LocalState = {
      version: 1,
      instanceId: id,
      spec,
      host,
      port: 0,
      pid: null,
      startTime: null,
      cgroup: null,
      desired: "running",
      limits: spec.limits,
      createdAt: now,
      updatedAt: now,
      crashes: 0,
      lastCrashAt: null,
    };
    try {
      await store.create(id);
      // State first, then each resource right after it exists, so terminate can always undo it.
      await store.write(s);
    } catch (err) {
      throw providerError(err, `launch ${spec.satelliteId}`);
    }
    // Recorded before anything runs: a delete meanwhile terminates it rather than leaking it.
    await o.onInstance?.(id, false);
    return withInstanceLock(store.dir(id), async () => {
      try {
        s.port = await ports.reserve(id);
        await store.write(s);
        s.cgroup = await cg.create(id);
        await store.write(s);
        if (s.cgroup) await writeLimits(s.cgroup, s.limits, confinement.cpuCount);
        await spawnInstance(s);
      } catch (err) {
        throw providerError(err, `launch ${id}`);
      }
      return { instanceId: id, hibernate: spec.hibernate, limitsEnforced: enforced(s) };
    });
  }

  function start(id: string, o?: StartOptions): Promise<InstanceInfo> {
    return mutate(id, "start", async (s) => {
      if (o?.pendingLimits) {
        s.limits = o.pendingLimits;
        s.spec = { ...s.spec, limits: o.pendingLimits };
      }
      let ref = refOf(s);
      let status = await processStatus(ref);
      // Only a sleeping process is replaced: start on a running one stays a no-op (a build may
      // be using it); its new command line waits for the next sleep and wake.
      if (ref && present(status) && outdated(s) && (await hibernated(s, status))) {
        // Limits its command line carries changed while it slept: a new process takes them.
        await endProcess(confinement, s, ref);
        await store.write(s);
        ref = null;
        status = "dead";
      }
      await ensureCgroup(confinement, s, present(status));
      if (ref && present(status)) {
        // Resume: same process, memory intact.
        if (s.cgroup) await thaw(s.cgroup);
        if (status === "stopped") {
          signalGroup(ref.pid, "SIGCONT");
          await waitStatus(ref, (st) => st !== "stopped", 5000);
        }
        await writeOomScoreAdj(ref.pid, s.limits.oomScoreAdj);
        s.desired = "running";
        await store.write(s);
      } else {
        if (s.desired === "running" && s.pid !== null) {
          s.crashes += 1;
          s.lastCrashAt = new Date().toISOString();
        }
        await spawnInstance(s);
      }
      return { instanceId: id, state: "running", upstream: upstream(s) };
    });
  }

  function stop(id: string, o: { hibernate: boolean }): Promise<void> {
    return mutate(id, "stop", async (s) => {
      const ref = refOf(s);
      const status = await processStatus(ref);
      if (ref && present(status) && o.hibernate && s.spec.hibernate) {
        if (s.cgroup?.freezer) await freeze(s.cgroup);
        else {
          signalGroup(ref.pid, "SIGSTOP");
          if (!(await waitStatus(ref, (st) => st !== "alive", 5000))) throw new Error(`pid ${ref.pid} did not stop`);
        }
        s.desired = "hibernated";
        await store.write(s);
        return;
      }
      // Recorded first so describe says "stopping" while the process winds down.
      s.desired = "stopped";
      await store.write(s);
      if (ref && status !== "dead") {
        // Frozen tasks cannot act on signals.
        if (s.cgroup) await thaw(s.cgroup);
        await terminateProcess(ref, confinement.graceMs);
      }
      await killLeftovers(s);
      s.pid = null;
      s.startTime = null;
      await store.write(s);
    });
  }

  async function terminate(id: string): Promise<void> {
    // Nothing can exist under an id this provider would never have made.
    if (!validInstanceId(id)) return;
    await withInstanceLock(store.dir(id), async (locked) => {
      if (!locked) return;
      try {
        const s = await store.read(id);
        if (s) {
          const ref = refOf(s);
          if (s.cgroup) await thaw(s.cgroup);
          if (ref) await terminateProcess(ref, confinement.graceMs);
          if (s.cgroup) await removeCgroup(s.cgroup);
          if (s.port) await ports.release(s.port, id);
        }
        await store.remove(id);
      } catch (err) {
        throw providerError(err, `terminate ${id}`);
      }
    });
  }

  async function describe(id: string): Promise<InstanceInfo> {
    const s = await store.read(id);
    if (!s) return { instanceId: id, state: (await store.terminated(id)) ? "terminated" : "missing", upstream: null };
    const status = await processStatus(refOf(s));
    // A dead process we did not stop crashed; either way it is stopped now and start revives it.
    if (status === "dead") {
      const crashed = s.desired === "running" && s.pid !== null;
      return { instanceId: id, state: "stopped", upstream: null, ...(crashed ? { failure: `the satellite's process (pid ${s.pid}) exited on its own` } : {}) };
    }
    if (await hibernated(s, status)) return { instanceId: id, state: "hibernated", upstream: null };
    if (status === "exiting" || s.desired === "stopped") return { instanceId: id, state: "stopping", upstream: null };
    return { instanceId: id, state: "running", upstream: upstream(s) };
  }

  function applyLimits(id: string, limits: Limits, spec: Pick<LaunchSpec, "platform" | "size">): Promise<LimitsOutcome> {
    return mutate(id, "applyLimits", async (s) => {
      s.limits = limits;
      s.spec = { ...s.spec, platform: spec.platform, size: spec.size, limits };
      const ref = refOf(s);
      const status = await processStatus(ref);
      await ensureCgroup(confinement, s, present(status));
      if (ref && present(status)) await writeOomScoreAdj(ref.pid, limits.oomScoreAdj);
      await store.write(s);
      // Enforced only when the running process really is confined (or will be at its start).
      const confined = enforced(s) && s.cgroup !== null && (!ref || !present(status) || (await containsPid(s.cgroup, ref.pid)));
      // A limit the command line carries reaches a process that is there only through a new
      // one: pending until the next start (the wake), as user-data is on EC2.
      return { applied: !(ref && present(status) && outdated(s)), enforced: confined };
    });
  }

  function resize(id: string, spec: LaunchSpec): Promise<Resized> {
    return mutate(id, "resize", async (s) => {
      // A sleeping satellite may still hold its frozen process (hibernated). A new size is a new
      // machine, as on EC2: that process ends, and the next start spawns one under the new limits.
      await endProcess(confinement, s, refOf(s));
      // One host, one architecture: a platform change is recorded, the program stays the same.
      s.spec = { ...spec, satelliteId: s.spec.satelliteId };
      s.limits = spec.limits;
      await ensureCgroup(confinement, s, false);
      await store.write(s);
      return { instanceId: id, hibernate: spec.hibernate, limitsEnforced: enforced(s) };
    });
  }

  return {
    name: "local",
    launch,
    start,
    stop,
    terminate,
    describe,
    applyLimits,
    resize,
    // Local state is files on this host: one read each costs nothing worth batching.
    async describeMany(ids: string[]) {
      return new Map(await Promise.all(ids.map(async (id) => [id, await describe(id)] as const)));
    },
    // Resizes happen in place here: there is never a replacement to clean up.
    abandonResize: async () => ({}),
    async cgroupMode() {
      const cg = await confinement.cgroups();
      return { mode: cg.mode, reason: cg.reason };
    },
    list: () => store.list(),
    async listOwned() {
      const out: OwnedInstance[] = [];
      for (const id of await store.list()) {
        const s = await store.read(id).catch(() => null);
        if (s) out.push({ instanceId: id, satelliteId: s.spec.satelliteId, launchedAt: new Date(s.createdAt) });
      }
      return out;
    },
    // A detached process has no parent here to hear its exit: check liveness (a signal 0 and
    // a /proc read per running satellite) every second.
    watch(onDeath) {
      let busy = false;
      const timer = setInterval(() => {
        if (busy) return;
        busy = true;
        void (async () => {
          for (const id of await store.list()) {
            const s = await store.read(id).catch(() => null);
            if (!s || s.desired !== "running" || s.pid === null) continue;
            if ((await processStatus(refOf(s))) === "dead") onDeath({ instanceId: id, satelliteId: s.spec.satelliteId });
          }
        })()
          .catch(() => {})
          .finally(() => {
            busy = false;
          });
      }, opts.watchIntervalMs ?? 1000);
      timer.unref();
      return () => clearInterval(timer);
    },
    // A satellite that runs for weeks writes its log all that time: rotating only at its next
    // start would let a chatty build daemon fill the host's disk.
    async housekeeping() {
      const done: string[] = [];
      for (const id of await store.list()) {
        try {
          // Under the instance lock: a start rotates the same file its own way (rename).
          const rotated = await withInstanceLock(store.dir(id), async (locked) => locked && (await trimLog(logFile(id), opts.logLimitBytes)));
          if (rotated) done.push(`${id}: log rotated`);
        } catch (err) {
          // Deleted meanwhile.
          if (errno(err) !== "ENOENT") done.push(`${id}: log rotation failed: ${(err as Error).message}`);
        }
      }
      return done;
    },
    // Satellites are meant to outlive the worker: closing the provider leaves them running.
    close: () => Promise.resolve(),
  };
}
