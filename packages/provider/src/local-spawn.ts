// Starting a satellite's process: its certificate and config files, a free port, its cgroup,
// an environment without the worker's secrets, and the pid recorded once it runs.
import { satelliteServerName, serverNames } from "@satellites/pki";
import { containsPid, procsFiles } from "./cgroup.ts";
import { killLeftovers } from "./local-confine.ts";
import { bridgeConflicts, satelliteBridge } from "./buildkit-network.ts";
import { hostRoutes } from "./host-routes.ts";
import { commandOf, logFileOf, type LocalContext } from "./local-context.ts";
import { writeDaemonFiles, writeTlsFiles } from "./local-daemon.ts";
import { waitPortFree } from "./local-ports.ts";
import { spawnSatellite, type ProcessRef } from "./local-process.ts";
import type { LocalState } from "./local-state.ts";
import { PermanentProviderError, RetryableProviderError } from "./types.ts";

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

/** A fresh server certificate (the CA may have been replaced) and the daemon's config files. */
async function prepareFiles(ctx: LocalContext, s: LocalState): Promise<void> {
  const dir = ctx.store.dir(s.instanceId);
  if (ctx.opts.ca) {
    // The proxy verifies the satellite's own name; the address is there for direct tools (buildctl).
    const names = serverNames([...new Set([satelliteServerName(s.spec.satelliteId), s.host, "localhost"])]);
    await writeTlsFiles(dir, await ctx.opts.ca.issueServer(`satellite ${s.spec.satelliteId}`, names));
  }
  await writeDaemonFiles(dir, ctx.daemon, s.cgroup, s.port);
}

/** The steps' /24 must not shadow a route the host gained since start (a VPN, a new interface). */
function assertSubnetFree(ctx: LocalContext, s: LocalState): void {
  if (ctx.daemon.kind !== "buildkit" || ctx.daemon.network.mode !== "bridge") return;
  const subnets = ctx.daemon.network.subnets;
  const [clash] = bridgeConflicts(s.port, subnets, hostRoutes());
  if (clash) {
    throw new PermanentProviderError(
      `the build steps' subnet ${satelliteBridge(s.port, subnets).subnet} overlaps the host's route ${clash.subnet} on ${clash.iface}: a bridge there would take that traffic from the host (set LOCAL_BUILDKIT_SUBNETS to a range the host does not use)`,
      "SubnetInUse",
    );
  }
}

export async function spawnInstance(ctx: LocalContext, s: LocalState): Promise<void> {
  assertSubnetFree(ctx, s);
  await killLeftovers(s);
  // The previous process may still be releasing it (sockets close with its last thread).
  if (!(await waitPortFree(s.host, s.port, 3000)))
    throw new RetryableProviderError(`port ${s.host}:${s.port} of ${s.instanceId} is taken by another process`, "PortInUse");
  await prepareFiles(ctx, s);
  const cgroup = s.cgroup;
  let ref: ProcessRef;
  try {
    s.command = commandOf(ctx, s);
    ref = await spawnSatellite({
      command: s.command,
      cwd: ctx.store.dir(s.instanceId),
      logFile: logFileOf(ctx, s.instanceId),
      logLimitBytes: ctx.opts.logLimitBytes,
      env: satelliteEnv(s, ctx.opts.env),
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
  await ctx.store.write(s);
}
