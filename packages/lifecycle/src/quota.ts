// Per-organization quotas, set by the instance admin: how many satellites, how many vCPUs in
// total, and the largest size. The one place they are enforced — tRPC and the Earthly API both
// create and resize through here. Creating and resizing hold a per-organization advisory lock
// while they count and change, so concurrent ones cannot overshoot together.
import { SIZES, SIZE_SPECS, type SizeName } from "@satellites/catalog";
import type { Db, Satellite, Tx } from "@satellites/db";
import { createSatellite, type NewSatellite } from "@satellites/state";

export interface Quota {
  satellites: number | null;
  vcpu: number | null;
  largestSize: SizeName | null;
}

export interface Usage {
  satellites: number;
  vcpu: number;
}

export async function quotaOf(db: Db | Tx, orgId: string): Promise<{ quota: Quota; usage: Usage }> {
  const [org, live] = await Promise.all([
    db.organization.findUnique({ where: { id: orgId }, select: { quotaSatellites: true, quotaVcpu: true, quotaLargestSize: true } }),
    db.satellite.groupBy({ by: ["size"], where: { orgId, liveName: { not: null } }, _count: { _all: true } }),
  ]);
  const usage = { satellites: 0, vcpu: 0 };
  for (const g of live) {
    usage.satellites += g._count._all;
    usage.vcpu += g._count._all * SIZE_SPECS[g.size as SizeName].vcpu;
  }
  return { quota: { satellites: org?.quotaSatellites ?? null, vcpu: org?.quotaVcpu ?? null, largestSize: (org?.quotaLargestSize as SizeName | null) ?? null }, usage };
}

/** Why `change` would break the quota, or null. `remove` is the size a resize gives up. */
export function quotaRefusal(quota: Quota, usage: Usage, change: { add: SizeName; remove?: SizeName }): string | null {
  if (quota.largestSize && SIZES.indexOf(change.add) > SIZES.indexOf(quota.largestSize)) {
    return `Size ${change.add} is larger than this organization's quota allows (largest: ${quota.largestSize})`;
  }
  if (!change.remove && quota.satellites !== null && usage.satellites + 1 > quota.satellites) {
    return `This organization may have at most ${quota.satellites} satellite${quota.satellites === 1 ? "" : "s"} (quota); delete one first`;
  }
  const vcpu = usage.vcpu + SIZE_SPECS[change.add].vcpu - (change.remove ? SIZE_SPECS[change.remove].vcpu : 0);
  if (quota.vcpu !== null && vcpu > quota.vcpu && vcpu > usage.vcpu) {
    return `This would use ${vcpu} vCPUs; this organization's quota is ${quota.vcpu} (${usage.vcpu} in use)`;
  }
  return null;
}

export type CreateOutcome = { kind: "created"; satellite: Satellite } | { kind: "refused"; reason: string };

/**
 * Creates a satellite if the organization's quota allows it. `then` runs in the same
 * transaction (the audit record).
 */
export async function createWithinQuota(db: Db, input: NewSatellite, then?: (tx: Tx, satellite: Satellite) => Promise<void>): Promise<CreateOutcome> {
  return db.$transaction(async (tx) => {
    await lockQuota(tx, input.orgId);
    const { quota, usage } = await quotaOf(tx, input.orgId);
    const reason = quotaRefusal(quota, usage, { add: input.size as SizeName });
    if (reason) return { kind: "refused" as const, reason };
    const { satellite } = await createSatellite(tx, input);
    await then?.(tx, satellite);
    return { kind: "created" as const, satellite };
  });
}

/**
 * The organization's quota lock, held to the transaction's end: whoever counts usage and then
 * adds to it (a create, a resize) holds it, so two of them cannot both count the same room.
 */
export async function lockQuota(tx: Tx, orgId: string): Promise<void> {
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${`satellites:quota:${orgId}`}))`;
}

/** For a resize: why the new size would break the quota, or null. */
export async function resizeRefusal(db: Db | Tx, satellite: Satellite, to: SizeName): Promise<string | null> {
  const { quota, usage } = await quotaOf(db, satellite.orgId);
  return quotaRefusal(quota, usage, { add: to, remove: satellite.size as SizeName });
}
