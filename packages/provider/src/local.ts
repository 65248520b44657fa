// The embedded provider: each satellite is a detached local process on its own loopback port,
// confined in its own cgroup(s) where the host allows it. Instances live on disk under
// `dataDir/<instanceId>/` (state.json, satellite.log), so they outlive the worker that launched
// them and any later worker can drive them. Hibernate freezes the cgroup (memory kept, same pid);
// without a usable freezer it falls back to SIGSTOP/SIGCONT, and without writable cgroups limits
// are reported as not enforced. The program is the built-in backend or BuildKit (local-daemon.ts);
// with a CA each start hands it a fresh server certificate and it takes only the CA's clients.
//
// The operations: local-machine.ts (launch, start, stop, …) and local-inspect.ts (describe,
// watch, housekeeping), over the shared local-context.ts.
import type { CgroupMode } from "./cgroup.ts";
import { localContext, type LocalProviderOptions } from "./local-context.ts";
import { describe, diagnose, housekeeping, listOwned, watch } from "./local-inspect.ts";
import { applyLimits, launch, resize, start, stop, terminate } from "./local-machine.ts";
import type { Provider } from "./types.ts";

export { bridgeNetwork, buildkitFlavor, BuildkitNetworkError, type BuildkitFlavor, type BuildkitNetwork } from "./buildkit-network.ts";
export { defaultLocalCommand, renderCommand, type CommandValues, type LocalDaemon } from "./local-daemon.ts";
export type { LocalProviderOptions } from "./local-context.ts";

export interface LocalProvider extends Provider {
  readonly name: "local";
  /** How limits are enforced on this host (detected on first use). */
  cgroupMode(): Promise<{ mode: CgroupMode; reason: string }>;
  /** Instance ids on disk (for the reconciler and for cleanup). */
  list(): Promise<string[]>;
}

export function createLocalProvider(opts: LocalProviderOptions): LocalProvider {
  const ctx = localContext(opts);
  return {
    name: "local",
    launch: (spec, o) => launch(ctx, spec, o),
    start: (id, o) => start(ctx, id, o),
    stop: (id, o) => stop(ctx, id, o),
    terminate: (id) => terminate(ctx, id),
    describe: (id) => describe(ctx, id),
    applyLimits: (id, limits, spec) => applyLimits(ctx, id, limits, spec),
    resize: (id, spec, opts) => resize(ctx, id, spec, opts),
    // Local state is files on this host: one read each costs nothing worth batching.
    describeMany: async (ids) => new Map(await Promise.all(ids.map(async (id) => [id, await describe(ctx, id)] as const))),
    // Resizes happen in place here: there is never a replacement to clean up.
    abandonResize: async () => ({}),
    async cgroupMode() {
      const cg = await ctx.confinement.cgroups();
      return { mode: cg.mode, reason: cg.reason };
    },
    list: () => ctx.store.list(),
    listOwned: () => listOwned(ctx),
    watch: (events) => watch(ctx, events),
    diagnose: (id) => diagnose(ctx, id),
    housekeeping: () => housekeeping(ctx),
    // Satellites are meant to outlive the worker: closing the provider leaves them running.
    close: () => Promise.resolve(),
  };
}
