// What every handler of the cloud API works with.
import type { Db, Satellite } from "@satellites/db";
import type { SatelliteQueues } from "@satellites/queue";
import type { StateWatcher } from "@satellites/state";
import type { Caller, Callers } from "./caller.ts";
import { notFound } from "./errors.ts";
import { satelliteNameFromEarthly } from "./mapping.ts";
import type { OpenStreams } from "./open-streams.ts";

export interface ApiContext {
  db: Db;
  queues: SatelliteQueues;
  watcher: StateWatcher;
  callers: Callers;
  /** Status streams open now, ended when their token loses access. */
  streams: OpenStreams;
  /** host:port of the proxy, given to the CLI as satellite_address (host:port: the CLI prefixes tcp:// itself). */
  /** The BuildKit address the CLI dials (satellite-address.ts). */
  proxyAddress: string;
  /** PROVIDER and IDLE_TIMEOUT_DEFAULT_SECONDS, for launches. */
  provider: string;
  idleTimeoutSeconds: number;
  /** Longest a status stream waits for its satellite to reach its goal. */
  streamTimeoutMs: number;
  onError: (err: unknown, method: string) => void;
  /**
   * A ReserveSatellite, told when it answers OPERATIONAL, with how long it waited for the wake (0:
   * the satellite was awake): the build the CLI then sends through the proxy takes the wait (its
   * own Solve never waits) and is known as the CLI's (it names no client of its own).
   */
  onReserved?: ((w: { actor: string; satelliteId: string; waitedMs: number }) => void) | undefined;
}

/** org_id must be the caller's organization; another org is as unknown as a missing one. */
export function requireOrgId(caller: Caller, orgId: string): void {
  if (orgId !== caller.orgId) throw notFound(`organization "${orgId.slice(0, 80)}" not found`);
}

/** The caller's live satellite of that name, or NOT_FOUND (other organizations' included). */
export async function findSatellite(ctx: ApiContext, caller: Caller, req: { org_id: string; name: string }): Promise<Satellite> {
  requireOrgId(caller, req.org_id);
  const name = satelliteNameFromEarthly(req.name);
  const satellite = await ctx.db.satellite.findUnique({ where: { orgId_liveName: { orgId: caller.orgId, liveName: name } } });
  if (!satellite || satellite.deletedAt || satellite.state === "deleted") throw notFound(`satellite "${name}" not found`);
  return satellite;
}
