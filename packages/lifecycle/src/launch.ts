// Launching a satellite: the row in `creating` with its default limits and first history event,
// then the launch job. One path for every front end (tRPC, Earthly's Compute API).
import { defaultLimits, hibernatable, type PlatformName, type SizeName } from "@satellites/catalog";
import { type Db, Prisma, type Satellite, type Tx } from "@satellites/db";
import { enqueue, type SatelliteQueues } from "@satellites/queue";
import { createWithinQuota } from "./quota.ts";

export interface LaunchRequest {
  orgId: string;
  name: string;
  size: SizeName;
  platform: PlatformName;
  /** The configured provider (PROVIDER). */
  provider: string;
  idleTimeoutSeconds: number;
  actor: string;
}

export type LaunchOutcome = { kind: "launched"; satellite: Satellite } | { kind: "exists"; reason: string } | { kind: "over-quota"; reason: string };

/**
 * Within the organization's quota (quota.ts) or not at all. `then` runs in the creating
 * transaction: the caller's audit record commits with the satellite.
 */
export async function requestLaunch(db: Db, queues: SatelliteQueues, req: LaunchRequest, then?: (tx: Tx, satellite: Satellite) => Promise<void>): Promise<LaunchOutcome> {
  const limits = defaultLimits(req.size, req.idleTimeoutSeconds);
  try {
    const created = await createWithinQuota(db, {
      orgId: req.orgId,
      name: req.name,
      size: req.size,
      platform: req.platform,
      provider: req.provider,
      actor: req.actor,
      hibernate: hibernatable(req.platform),
      idleTimeoutSeconds: limits.idleTimeoutSeconds,
      limitCpuPercent: limits.cpuPercent,
      limitMemoryMiB: limits.memoryMiB,
      limitSwapMiB: limits.swapMiB,
      limitDiskGiB: limits.diskGiB,
      limitOomScoreAdj: limits.oomScoreAdj,
    }, then);
    if (created.kind === "refused") return { kind: "over-quota", reason: created.reason };
    const { satellite } = created;
    await enqueue(queues, "launch", { satelliteId: satellite.id, version: satellite.version });
    return { kind: "launched", satellite };
  } catch (err) {
    // (orgId, liveName) is unique among live satellites.
    if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === "P2002") {
      return { kind: "exists", reason: `a satellite named "${req.name}" already exists in this organization` };
    }
    throw err;
  }
}
