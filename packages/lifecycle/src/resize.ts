// Changing a satellite's size or platform. EC2 changes an instance type only while the instance
// is stopped, and a platform change needs a new instance altogether, so a resize always runs on
// a sleeping machine: asleep → updating → (resize job) → asleep.
//
// An awake satellite is put to sleep first when forced. The wish rides on the event that began
// that stop (its detail), and whoever brings the satellite to asleep — the sleep job or the
// reconciler, through `finishSleep` — goes on to updating in the same transaction, so no column
// is needed and no wake can slip in between.
import { PLATFORMS, SIZES, SIZE_SPECS, defaultLimits, type PlatformName, type SizeName } from "@satellites/catalog";
import type { Db, Prisma, Satellite, Tx } from "@satellites/db";
import { enqueue, type SatelliteQueues } from "@satellites/queue";
import { type Cause, enteringEvent, type SatellitePatch, type TransitionResult, transition } from "@satellites/state";
import { lockQuota, resizeRefusal } from "./quota.ts";
import { lockSatellite } from "./row-lock.ts";
import { requestSleep } from "./sleep.ts";

export type ResizeOutcome = { kind: "resizing"; satellite: Satellite } | { kind: "refused"; reason: string };

export interface ResizeTarget {
  size: SizeName;
  platform: PlatformName;
}

export interface ResizeRequest extends ResizeTarget {
  /** Put an awake satellite to sleep first (a build running on it ends). */
  force: boolean;
  actor: string;
}

/** Keys in the detail of the event that began a stop: "resize to this once asleep". */
const RESIZE_SIZE = "resizeSize";
const RESIZE_PLATFORM = "resizePlatform";

/**
 * The memory limit on the new size. A limit that was the old size's default follows the size
 * (growing a machine should give builds the memory); one that no longer fits becomes the new
 * size's default (room for the OS, as at creation); any other hand-set value is kept.
 */
export function memoryLimitFor(current: number, from: SizeName, to: SizeName): number {
  const target = defaultLimits(to).memoryMiB;
  if (current === defaultLimits(from).memoryMiB || current > SIZE_SPECS[to].memoryMiB) return target;
  return current;
}

/**
 * `then` runs in the transaction that begins the resize (asleep) or the stop leading to it
 * (awake, forced): the caller's audit record commits with it.
 */
export async function requestResize(db: Db, queues: SatelliteQueues, satellite: Satellite, req: ResizeRequest, then?: (tx: Tx, satellite: Satellite) => Promise<void>): Promise<ResizeOutcome> {
  const target: ResizeTarget = { size: req.size, platform: req.platform };
  if (satellite.size === target.size && satellite.platform === target.platform) {
    return { kind: "refused", reason: `satellite already is ${target.size} on ${target.platform}` };
  }
  const sizeChanges = satellite.size !== target.size;
  switch (satellite.state) {
    case "asleep": {
      const r = await db.$transaction(async (tx) => {
        // The quota's lock before the row's, as finishSleep takes them.
        if (sizeChanges) await lockQuota(tx, satellite.orgId);
        // Counted and fitted from the row as it is now (a limits save may have just replaced its
        // memory limit); a state that moved meanwhile loses, as the compare-and-set would.
        const current = await lockSatellite(tx, satellite.id);
        if (!current || current.version !== satellite.version) return { refused: null, moved: { won: false as const, satellite: null, event: null } };
        const over = sizeChanges ? await resizeRefusal(tx, current, target.size) : null;
        if (over) return { refused: over, moved: null };
        const moved = await beginResize(tx, current, target, req.actor);
        if (moved.won) await then?.(tx, moved.satellite);
        return { refused: null, moved };
      });
      if (r.refused !== null) return { kind: "refused", reason: r.refused };
      if (!r.moved.won) return { kind: "refused", reason: "satellite changed state meanwhile; try again" };
      const moved = r.moved;
      await enqueue(queues, "resize", { satelliteId: satellite.id, version: moved.satellite.version });
      return { kind: "resizing", satellite: moved.satellite };
    }
    case "awake": {
      if (!req.force) return { kind: "refused", reason: "satellite is awake; put it to sleep first, or use force" };
      // Counted now for a clear answer, and again under the lock once it is asleep (finishSleep).
      const over = sizeChanges ? await resizeRefusal(db, satellite, target.size) : null;
      if (over) return { kind: "refused", reason: over };
      const s = await requestSleep(db, queues, satellite, {
        cause: "manual",
        actor: req.actor,
        detail: { [RESIZE_SIZE]: target.size, [RESIZE_PLATFORM]: target.platform },
      }, then);
      if (s.kind === "refused") return { kind: "refused", reason: s.reason };
      return { kind: "resizing", satellite: s.satellite };
    }
    default:
      return { kind: "refused", reason: `cannot change the size while the satellite is ${satellite.state}; try again once it is asleep or awake` };
  }
}

/** asleep → updating with the new size/platform and the memory limit fitted to it. */
export function beginResize(db: Db | Tx, satellite: Satellite, target: ResizeTarget, actor: string, extra: Record<string, Prisma.InputJsonValue> = {}): Promise<TransitionResult> {
  const from = satellite.size as SizeName;
  const memory = memoryLimitFor(satellite.limitMemoryMiB, from, target.size);
  return transition(db, {
    satellite,
    to: "updating",
    cause: "manual",
    actor,
    set: { size: target.size, platform: target.platform, limitMemoryMiB: memory },
    detail: {
      size: { from, to: target.size },
      platform: { from: satellite.platform, to: target.platform },
      ...(memory !== satellite.limitMemoryMiB ? { memoryMiB: { from: satellite.limitMemoryMiB, to: memory } } : {}),
      ...extra,
    },
  });
}

/** The resize a stop was asked to lead to, from the detail of the event that began it. */
export function pendingResize(began: { detail: Prisma.JsonValue } | null | undefined): ResizeTarget | null {
  const d = began?.detail;
  if (!d || typeof d !== "object" || Array.isArray(d)) return null;
  const size = d[RESIZE_SIZE];
  const platform = d[RESIZE_PLATFORM];
  if (!SIZES.includes(size as SizeName) || !PLATFORMS.includes(platform as PlatformName)) return null;
  return { size: size as SizeName, platform: platform as PlatformName };
}

export interface FinishSleep {
  cause: Cause;
  actor: string;
  set?: SatellitePatch;
  detail?: Prisma.InputJsonValue;
  /** The event that began the stop, when the caller has read it already. */
  began?: { actor: string; detail: Prisma.JsonValue } | null;
}

/**
 * stopping → asleep. When the stop was asked for a resize, asleep → updating follows in the
 * same transaction (both events recorded, announced on commit) and the resize job is enqueued.
 */
export async function finishSleep(
  db: Db,
  queues: SatelliteQueues,
  satellite: Satellite,
  req: FinishSleep,
): Promise<{ asleep: TransitionResult; resizing: Satellite | null }> {
  const began = req.began === undefined ? await enteringEvent(db, satellite.id, "stopping") : req.began;
  const wanted = pendingResize(began);
  const toAsleep = (tx: Db | Tx, detail = req.detail) =>
    transition(tx, {
      satellite,
      to: "asleep",
      cause: req.cause,
      actor: req.actor,
      ...(req.set ? { set: req.set } : {}),
      ...(detail !== undefined ? { detail } : {}),
    });
  if (!wanted || (wanted.size === satellite.size && wanted.platform === satellite.platform)) return { asleep: await toAsleep(db), resizing: null };
  const out = await db.$transaction(async (tx) => {
    // Asked for while awake, the resize was counted against the quota then; others may have
    // used the room since. Counted again here, under the lock: if it no longer fits, the
    // satellite goes to sleep at its size and the history says why.
    let refused: string | null = null;
    if (wanted.size !== satellite.size) {
      await lockQuota(tx, satellite.orgId);
      refused = await resizeRefusal(tx, satellite, wanted.size);
    }
    if (refused) {
      const base = req.detail && typeof req.detail === "object" && !Array.isArray(req.detail) ? req.detail : {};
      return { asleep: await toAsleep(tx, { ...base, resizeRefused: refused }), resizing: null };
    }
    const asleep = await toAsleep(tx);
    if (!asleep.won) return { asleep, resizing: null };
    // Same transaction, row already ours: this compare-and-set cannot lose.
    const u = await beginResize(tx, asleep.satellite, wanted, began?.actor ?? req.actor, { after: "stop" });
    return { asleep, resizing: u.satellite };
  });
  if (out.resizing) await enqueue(queues, "resize", { satelliteId: satellite.id, version: out.resizing.version });
  return out;
}
