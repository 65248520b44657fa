// Compute's server streams: WakeSatellite and ReserveSatellite report each committed state
// change until the satellite is awake (OPERATIONAL, then EOF), SleepSatellite until it is
// asleep (SLEEP, then EOF). Changes come from the state announcements (StateWatcher); the last
// status is said again every update interval (the request's, else 10 s, as Earthly's service did)
// so a wake of minutes shows the CLI's "...still…" lines instead of silence. A satellite that fails ends its stream with ABORTED and the reason, without a FAILED
// message: the Earthly CLI stops at FAILED with its own words ("satellite is in a failed
// state") and would never show the reason (errors.ts, failedSatellite).
import { type ServerWritableStream, status } from "@grpc/grpc-js";
import type { Satellite, SatelliteState } from "@satellites/db";
import { requestSleep, requestWake } from "@satellites/lifecycle";
import { touchActivity } from "@satellites/queue";
import { type StateChange, WaitTimeoutError } from "@satellites/state";
import type { Caller } from "./caller.ts";
import { type ApiContext, findSatellite } from "./context.ts";
import { EarthlyApiError, failedSatellite, notFound, refused } from "./errors.ts";
import { SatelliteStatus, type SatelliteStatusValue, statusOf } from "./mapping.ts";

type StatusCall = ServerWritableStream<{ org_id: string; name: string; update_interval?: { seconds?: string | number; nanos?: number } | null }, { status: number }>;

const DEFAULT_REPEAT_MS = 10_000;

/** How often the last status is said again: the request's update_interval, within 250 ms–60 s. */
function repeatEvery(req: StatusCall["request"]): number {
  const d = req.update_interval;
  const ms = d ? Number(d.seconds ?? 0) * 1000 + Math.floor((d.nanos ?? 0) / 1e6) : 0;
  return ms > 0 ? Math.min(60_000, Math.max(250, ms)) : DEFAULT_REPEAT_MS;
}

/** How a stream ends: EOF, or this error after its last status. */
type End = { ok: true } | { error: EarthlyApiError };

const GONE: SatelliteState[] = ["deleting", "deleted"];

/**
 * Writes each status once, in order (a repeated state is one message), and the last one again
 * every update interval until `stop` (the stream's end).
 */
function statusWriter(call: StatusCall) {
  let last: SatelliteStatusValue | undefined;
  const repeat = setInterval(() => {
    if (last !== undefined && !call.cancelled) call.write({ status: last });
  }, repeatEvery(call.request));
  repeat.unref();
  const emit = (s: SatelliteStatusValue) => {
    if (s === last || call.cancelled) return;
    last = s;
    call.write({ status: s });
  };
  return { emit, stop: () => clearInterval(repeat) };
}

async function failureOf(ctx: ApiContext, satellite: Satellite): Promise<EarthlyApiError> {
  const row = await ctx.db.satellite.findUnique({ where: { id: satellite.id }, select: { failureReason: true } });
  return failedSatellite(`satellite "${satellite.name}" failed: ${row?.failureReason ?? "unknown reason"}; retry it with \`earthly sat wake\` or from the dashboard`);
}

async function follow(ctx: ApiContext, call: StatusCall, caller: Caller, satellite: Satellite, writer: { stop(): void }, check: (change?: StateChange) => Promise<End | undefined>): Promise<void> {
  const abort = new AbortController();
  call.on("cancelled", () => abort.abort());
  // Revoking the token (or removing its creator) ends the stream, as it ends the proxy's calls.
  let revoked: EarthlyApiError | undefined;
  const leave = ctx.streams.add(caller, (err) => {
    revoked = err;
    abort.abort();
  });
  let end: End;
  try {
    end = await ctx.watcher.waitUntil(satellite.id, check, { timeoutMs: ctx.streamTimeoutMs, signal: abort.signal });
  } catch (err) {
    if (revoked) end = { error: revoked };
    else if (abort.signal.aborted) return;
    else if (err instanceof WaitTimeoutError) {
      end = { error: new EarthlyApiError(status.UNAVAILABLE, `satellite "${satellite.name}" did not get there within ${Math.round(ctx.streamTimeoutMs / 1000)} s; try again`) };
    } else throw err;
  } finally {
    leave();
    writer.stop();
  }
  if (call.cancelled) return;
  if ("ok" in end) call.end();
  else call.emit("error", end.error);
}

/** Wake (cause manual) or Reserve (cause request: a build is coming; a failed satellite stays failed). */
export async function streamUntilAwake(ctx: ApiContext, call: StatusCall, caller: Caller, cause: "manual" | "request"): Promise<void> {
  const began = Date.now();
  const satellite = await findSatellite(ctx, caller, call.request);
  const writer = statusWriter(call);
  const emit = writer.emit;
  /** OPERATIONAL, then EOF. */
  const operational = (): End => {
    emit(SatelliteStatus.OPERATIONAL);
    return { ok: true };
  };
  let known: Satellite | undefined = satellite;
  let seen = satellite.version;
  await follow(ctx, call, caller, satellite, writer, async (change) => {
    // An announcement of a change older than what was read (delivered late) says nothing new.
    if (change && change.version <= seen) return undefined;
    if (change) {
      seen = change.version;
      if (change.to === "awake") {
        // A reserve that waited: the build it announces takes the wait (the proxy's build record).
        if (cause === "request") ctx.onReserved?.({ actor: caller.actor, satelliteId: satellite.id, waitedMs: Date.now() - began });
        return operational();
      }
      if (change.to === "failed") return { error: await failureOf(ctx, satellite) };
      if (GONE.includes(change.to)) return { error: notFound(`satellite "${satellite.name}" was deleted`) };
      // asleep is only a step on the way back up once a wake is asked for.
      if (change.to !== "asleep") emit(statusOf(change.to));
    }
    const before = known;
    known = undefined;
    // The row was read before the stream listened: on the way up, it may have arrived meanwhile,
    // unheard, and requestWake takes such a row as it is. Read again then (other states it acts
    // on by compare-and-set, which a stale row loses and reads anew).
    const fresh = before && (before.state === "creating" || before.state === "starting") ? undefined : before;
    const o = await requestWake(ctx.db, ctx.queues, satellite.id, { cause, actor: caller.actor }, fresh);
    if (o.satellite) seen = Math.max(seen, o.satellite.version);
    if (o.kind === "awake") {
      // A reserve means a build is about to start: the idle clock restarts now, not at its first call.
      if (cause === "request") {
        void touchActivity(ctx.db, satellite.id).catch((err: unknown) => ctx.onError(err, "ReserveSatellite"));
        ctx.onReserved?.({ actor: caller.actor, satelliteId: satellite.id, waitedMs: 0 });
      }
      return operational();
    }
    if (o.kind === "waking") {
      // The first message is the state found (a failed satellite being retried says so by
      // STARTING, or CREATING when it never had a machine and is launched again).
      if (before && before.state !== "failed") emit(statusOf(before.state));
      emit(statusOf(o.satellite.state));
      return undefined;
    }
    if (!o.satellite || o.satellite.deletedAt || GONE.includes(o.satellite.state)) return { error: notFound(`satellite "${satellite.name}" not found`) };
    if (o.satellite.state === "failed") return { error: await failureOf(ctx, o.satellite) };
    return { error: new EarthlyApiError(status.UNAVAILABLE, o.reason) };
  });
}

export async function streamUntilAsleep(ctx: ApiContext, call: StatusCall, caller: Caller): Promise<void> {
  const satellite = await findSatellite(ctx, caller, call.request);
  const writer = statusWriter(call);
  const emit = writer.emit;
  let first = true;
  let seen = satellite.version;
  await follow(ctx, call, caller, satellite, writer, async (change) => {
    if (change && change.version <= seen) return undefined;
    let state: SatelliteState;
    if (first) {
      first = false;
      // Read before the stream listened: a sleep under way may have ended meanwhile, unheard.
      if (satellite.state === "stopping" || satellite.state === "updating") Object.assign(satellite, await ctx.db.satellite.findUnique({ where: { id: satellite.id } }));
      if (satellite.state !== "failed") emit(statusOf(satellite.state));
      if (satellite.state === "awake") {
        const r = await requestSleep(ctx.db, ctx.queues, satellite, { cause: "manual", actor: caller.actor });
        if (r.kind === "refused") return { error: refused(`satellite "${satellite.name}": ${r.reason}`) };
        state = r.satellite.state;
        seen = r.satellite.version;
      } else state = satellite.state;
    } else if (change) {
      state = change.to;
      seen = change.version;
    } else {
      const row = await ctx.db.satellite.findUnique({ where: { id: satellite.id }, select: { state: true } });
      state = row?.state ?? "deleted";
    }
    if (state !== "failed") emit(statusOf(state));
    switch (state) {
      case "asleep":
        return { ok: true };
      case "stopping":
      case "updating":
        return undefined;
      case "failed":
        return { error: await failureOf(ctx, satellite) };
      case "deleting":
      case "deleted":
        return { error: notFound(`satellite "${satellite.name}" was deleted`) };
      default:
        return { error: refused(`satellite "${satellite.name}" is ${state === "awake" ? "awake: it was in use and stays awake" : state}; try again once it is awake`) };
    }
  });
}
