// A satellite is born in `creating` with its first history event (null → creating, launch),
// written and announced in one transaction.
import type { Db, Platform, Satellite, SatelliteEvent, Size, Tx } from "@satellites/db";
import { announce } from "./transition.ts";

export interface NewSatellite {
  orgId: string;
  name: string;
  platform: Platform;
  size: Size;
  provider: string;
  actor: string;
  idleTimeoutSeconds?: number;
  limitMemoryMiB: number;
  limitCpuPercent?: number;
  limitSwapMiB?: number;
  limitDiskGiB?: number;
  limitOomScoreAdj?: number;
  hibernate?: boolean;
}

/** In a transaction of its own, or in the caller's (`tx`: a quota check holds its lock). */
export async function createSatellite(db: Db | Tx, input: NewSatellite): Promise<{ satellite: Satellite; event: SatelliteEvent }> {
  const { actor, ...fields } = input;
  const inTx = (fn: (tx: Tx) => Promise<{ satellite: Satellite; event: SatelliteEvent }>) => ("$transaction" in db ? db.$transaction(fn) : fn(db));
  return inTx(async (tx) => {
    const now = new Date();
    const satellite = await tx.satellite.create({
      data: { ...fields, liveName: input.name, state: "creating", version: 0, stateChangedAt: now },
    });
    const event = await tx.satelliteEvent.create({
      data: { satelliteId: satellite.id, orgId: satellite.orgId, from: null, to: "creating", cause: "launch", actor, startedAt: now, finishedAt: now },
    });
    await announce(tx, { id: satellite.id, orgId: satellite.orgId, from: null, to: "creating", version: 0, cause: "launch", at: now.toISOString() });
    return { satellite, event };
  });
}
