// The machine operations of the local provider: launch, start (resume or respawn), stop
// (hibernate or end), terminate, limits and resize. Each change to an existing instance runs
// under its lock (`mutate`), so any worker may drive any instance.
import type { Limits } from "@satellites/catalog";
import { containsPid, freeze, removeCgroup, thaw, writeLimits } from "./cgroup.ts";
import { endProcess, ensureCgroup, hibernated, killLeftovers, refOf, writeOomScoreAdj } from "./local-confine.ts";
import { enforced, type LocalContext, mutate, oomScoreEnforced, outdated, upstreamOf } from "./local-context.ts";
import { providerError } from "./local-errors.ts";
import { withInstanceLock } from "./local-lock.ts";
import { removeSatelliteNetwork } from "./buildkit-network.ts";
import { present, processStatus, signalGroup, terminateProcess, waitStatus, type ProcessRef, type ProcessStatus } from "./local-process.ts";
import { spawnInstance } from "./local-spawn.ts";
import { newInstanceId, validInstanceId, type LocalState } from "./local-state.ts";
import { PermanentProviderError, type InstanceInfo, type Launched, type LaunchOptions, type LaunchSpec, type LimitsOutcome, type Resized, type ResizeOptions, type StartOptions, type StopOptions } from "./types.ts";

export async function launch(ctx: LocalContext, spec: LaunchSpec, o: LaunchOptions = {}): Promise<Launched> {
  return (await relaunch(ctx, spec, o)) ?? launchNew(ctx, spec, o);
}

/** A re-run launch job (the worker died before recording the id) gets the same instance. */
async function relaunch(ctx: LocalContext, spec: LaunchSpec, o: LaunchOptions): Promise<Launched | null> {
  for (const id of await ctx.store.list()) {
    const existing = await ctx.store.read(id).catch(() => null);
    if (existing?.spec.satelliteId !== spec.satelliteId) continue;
    await o.onInstance?.(id, true);
    await start(ctx, id);
    const s = await ctx.store.read(id);
    return { instanceId: id, hibernate: existing.spec.hibernate, limitsEnforced: s !== null && enforced(ctx, s), oomScoreEnforced: s !== null && oomScoreEnforced(ctx, s) };
  }
  return null;
}

async function launchNew(ctx: LocalContext, spec: LaunchSpec, o: LaunchOptions): Promise<Launched> {
  const cg = await ctx.confinement.cgroups();
  const id = newInstanceId();
  const now = new Date().toISOString();
  const s: LocalState = {
    version: 1,
    instanceId: id,
    spec,
    host: ctx.host,
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
    await ctx.store.create(id);
    // State first, then each resource right after it exists, so terminate can always undo it.
    await ctx.store.write(s);
  } catch (err) {
    throw providerError(err, `launch ${spec.satelliteId}`);
  }
  // Recorded before anything runs: a delete meanwhile terminates it rather than leaking it.
  await o.onInstance?.(id, false);
  return withInstanceLock(ctx.store.dir(id), async () => {
    try {
      s.port = await ctx.ports.reserve(id);
      await ctx.store.write(s);
      s.cgroup = await cg.create(id);
      await ctx.store.write(s);
      if (s.cgroup) await writeLimits(s.cgroup, s.limits, ctx.confinement.cpuCount, ctx.confinement.pidsMax);
      await spawnInstance(ctx, s);
    } catch (err) {
      throw providerError(err, `launch ${id}`);
    }
    return { instanceId: id, hibernate: spec.hibernate, limitsEnforced: enforced(ctx, s), oomScoreEnforced: oomScoreEnforced(ctx, s) };
  });
}

export function start(ctx: LocalContext, id: string, o?: StartOptions): Promise<InstanceInfo> {
  return mutate(ctx, id, "start", async (s) => {
    if (o?.pendingLimits) {
      s.limits = o.pendingLimits;
      s.spec = { ...s.spec, limits: o.pendingLimits };
    }
    let ref = refOf(s);
    let status = await processStatus(ref);
    // Only a sleeping process is replaced: start on a running one stays a no-op (a build may
    // be using it); its new command line waits for the next sleep and wake.
    if (ref && present(status) && outdated(ctx, s) && (await hibernated(s, status))) {
      // Limits its command line carries changed while it slept: a new process takes them.
      await endProcess(ctx.confinement, s, ref);
      await ctx.store.write(s);
      ref = null;
      status = "dead";
    }
    await ensureCgroup(ctx.confinement, s, present(status));
    if (ref && present(status)) {
      o?.onResume?.(upstreamOf(s));
      await resume(ctx, s, ref, status);
      return { instanceId: id, state: "running", upstream: upstreamOf(s), resumed: true };
    }
    if (s.desired === "running" && s.pid !== null) {
      s.crashes += 1;
      s.lastCrashAt = new Date().toISOString();
    }
    await spawnInstance(ctx, s);
    return { instanceId: id, state: "running", upstream: upstreamOf(s) };
  });
}

/** The same process, memory intact: thawed (or continued, without a freezer). */
async function resume(ctx: LocalContext, s: LocalState, ref: ProcessRef, status: ProcessStatus): Promise<void> {
  await resumeProcess(s, ref, status);
  await writeOomScoreAdj(ref.pid, s.limits.oomScoreAdj);
  s.desired = "running";
  await ctx.store.write(s);
}

async function resumeProcess(s: LocalState, ref: ProcessRef, status: ProcessStatus): Promise<void> {
  if (s.cgroup) await thaw(s.cgroup);
  if (status === "stopped") {
    signalGroup(ref.pid, "SIGCONT");
    await waitStatus(ref, (st) => st !== "stopped", 5000);
  }
}

export function stop(ctx: LocalContext, id: string, o: StopOptions): Promise<void> {
  return mutate(ctx, id, "stop", async (s) => {
    // Asked once its turn has come: a start queued before it may have been a wake's.
    if (o.stillWanted && !(await o.stillWanted())) return;
    const ref = refOf(s);
    const status = await processStatus(ref);
    if (ref && present(status) && o.hibernate && s.spec.hibernate) {
      if (s.cgroup?.freezer) await freeze(s.cgroup);
      else {
        signalGroup(ref.pid, "SIGSTOP");
        if (!(await waitStatus(ref, (st) => st !== "alive", 5000))) throw new Error(`pid ${ref.pid} did not stop`);
      }
      s.desired = "hibernated";
      try {
        await ctx.store.write(s);
      } catch (err) {
        // Not recorded (no room at all): it goes on serving, as its state still says.
        await resumeProcess(s, ref, await processStatus(ref));
        throw err;
      }
      return;
    }
    // Recorded first so describe says "stopping" while the process winds down.
    s.desired = "stopped";
    await ctx.store.write(s);
    if (ref && status !== "dead") {
      // Frozen tasks cannot act on signals.
      if (s.cgroup) await thaw(s.cgroup);
      await terminateProcess(ref, ctx.confinement.graceMs);
    }
    await killLeftovers(s);
    s.pid = null;
    s.startTime = null;
    await ctx.store.write(s);
  });
}

export async function terminate(ctx: LocalContext, id: string): Promise<void> {
  // Nothing can exist under an id this provider would never have made.
  if (!validInstanceId(id)) return;
  await withInstanceLock(ctx.store.dir(id), async (locked) => {
    if (!locked) return;
    try {
      const s = await ctx.store.read(id);
      if (s) {
        const ref = refOf(s);
        if (s.cgroup) await thaw(s.cgroup);
        if (ref) await terminateProcess(ref, ctx.confinement.graceMs);
        if (s.cgroup) await removeCgroup(s.cgroup);
        if (s.port && ctx.daemon.kind === "buildkit" && ctx.daemon.network.mode === "bridge") await removeSatelliteNetwork(s.port);
        if (s.port) await ctx.ports.release(s.port, id);
      }
      await ctx.store.remove(id);
    } catch (err) {
      throw providerError(err, `terminate ${id}`);
    }
  });
}

export function applyLimits(ctx: LocalContext, id: string, limits: Limits, spec: Pick<LaunchSpec, "platform" | "size">): Promise<LimitsOutcome> {
  return mutate(ctx, id, "applyLimits", async (s) => {
    s.limits = limits;
    s.spec = { ...s.spec, platform: spec.platform, size: spec.size, limits };
    const ref = refOf(s);
    const status = await processStatus(ref);
    await ensureCgroup(ctx.confinement, s, present(status));
    if (ref && present(status)) await writeOomScoreAdj(ref.pid, limits.oomScoreAdj);
    await ctx.store.write(s);
    // Enforced only when the running process really is confined (or will be at its start).
    const confined = enforced(ctx, s) && s.cgroup !== null && (!ref || !present(status) || (await containsPid(s.cgroup, ref.pid)));
    // A limit the command line carries reaches a process that is there only through a new
    // one: pending until the next start (the wake), as user-data is on EC2.
    return { applied: !(ref && present(status) && outdated(ctx, s)), enforced: confined, oomScoreEnforced: oomScoreEnforced(ctx, s) };
  });
}

export function resize(ctx: LocalContext, id: string, spec: LaunchSpec, opts: ResizeOptions = {}): Promise<Resized> {
  return mutate(ctx, id, "resize", async (s) => {
    // A late copy of the job (the satellite resized and woken since) must not end its process.
    if (opts.stillWanted && !(await opts.stillWanted())) throw new PermanentProviderError(`the satellite moved on since this resize began; ${id} is left as it is`, "Superseded");
    // A sleeping satellite may still hold its frozen process (hibernated). A new size is a new
    // machine, as on EC2: that process ends, and the next start spawns one under the new limits.
    await endProcess(ctx.confinement, s, refOf(s));
    // One host, one architecture: a platform change is recorded, the program stays the same.
    s.spec = { ...spec, satelliteId: s.spec.satelliteId };
    s.limits = spec.limits;
    await ensureCgroup(ctx.confinement, s, false);
    await ctx.store.write(s);
    return { instanceId: id, hibernate: spec.hibernate, limitsEnforced: enforced(ctx, s), oomScoreEnforced: oomScoreEnforced(ctx, s) };
  });
}
