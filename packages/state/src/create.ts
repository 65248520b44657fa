// A satellite is born in `creating` with its first history event (null → creating, launch),
// written and announced in one transaction.
import type { Db, Platform, Satellite, SatelliteEvent, Size } from "@satellites/db";
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

export async function createSatellite(db: Db, input: NewSatellite): Promise<{ satellite: Satellite; event: SatelliteEvent }> {
  const { actor, ...fields } = input;
  return db.$transaction(async (tx) => {
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
