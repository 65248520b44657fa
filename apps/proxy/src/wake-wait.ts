// Waiting for a satellite to be awake. On each replica one shared waiter per satellite asks for
// the wake (the compare-and-set in requestWake makes exactly one caller across all replicas win)
// and re-asks on every state announcement for that satellite — never on a timer. Each call
// then races the shared outcome against its own deadline and its client going away; a wake's
// held calls are let go a batch per turn of the event loop (held-calls.ts).
import type { Db } from "@satellites/db";
import { requestWake } from "@satellites/lifecycle";
import type { SatelliteQueues } from "@satellites/queue";
import { type StateWatcher, WaitTimeoutError } from "@satellites/state";
import { toRecord, type SatelliteRecord } from "./directory.ts";
import { GrpcError, Status } from "./grpc.ts";
import { HeldCalls } from "./held-calls.ts";

const MAX_TIMER_MS = 2 ** 31 - 1;

/** A wake's outcome; a release announced by `awake` carries when it was committed, heard and connected (for WakeRelease). */
type Outcome = { ok: SatelliteRecord; at?: { committed: number; heard: number; connected: number } } | { failed: GrpcError };

/**
 * How one wake's release went on this replica, in ms from the `awake` commit (the moment the
 * health probe passed): when the announcement arrived, when the connection to the satellite was
 * up, and when the held calls had all been handed to it (bench:wake's timeline).
 */
export interface WakeRelease {
  satelliteId: string;
  heardMs: number;
  connectedMs: number;
  forwardedMs: number;
}

/** The waiting call's client: whether it has gone, and the one callback told when it goes. */
export interface Caller {
  readonly clientGone: boolean;
  onClientGone: (() => void) | undefined;
}

export class WakeWaiter {
  private readonly inflight = new Map<string, HeldCalls<Outcome>>();

  constructor(
    private readonly db: Db,
    private readonly queues: SatelliteQueues,
    private readonly watcher: StateWatcher,
    /** Longest any call waits, whatever its own deadline (PROXY_WAKE_TIMEOUT_MS). */
    private readonly ceilingMs: number,
    /**
     * Runs once the satellite is awake, before its calls are released: the connection to it is
     * made first, so the released calls all go out on it at once instead of each waiting for it.
     */
    private readonly beforeRelease: (satelliteId: string, upstream: string, version: number) => Promise<void> = async () => {},
    /** Told after each release announced by `awake`, once its calls are forwarded. */
    private readonly onReleased?: (r: WakeRelease) => void,
  ) {}

  /** Calls on this replica are waiting for the satellite to wake. */
  isWaiting(satelliteId: string): boolean {
    return this.inflight.has(satelliteId);
  }

  /**
   * Resolves with the satellite once awake. Rejects with DEADLINE_EXCEEDED when `deadlineAt`
   * (the caller's own deadline) passes first, UNAVAILABLE when the ceiling does or the wake fails,
   * FAILED_PRECONDITION when the satellite is deleted meanwhile; and when the client goes away.
   * (A plain callback, not an AbortSignal: a wake releases hundreds of calls at once.)
   */
  wait(satellite: SatelliteRecord, actor: string, deadlineAt: number | undefined, caller: Caller): Promise<SatelliteRecord> {
    const held = this.shared(satellite, actor);
    return new Promise<SatelliteRecord>((resolve, reject) => {
      if (caller.clientGone) return reject(new Error("client cancelled the call"));
      let timer: NodeJS.Timeout | undefined;
      let leave = (): void => {};
      const cleanup = (): void => {
        clearTimeout(timer);
        caller.onClientGone = undefined;
        leave();
      };
      leave = held.add((o) => {
        cleanup();
        if ("ok" in o) resolve(o.ok);
        else reject(o.failed);
      });
      caller.onClientGone = () => {
        cleanup();
        reject(new Error("client cancelled the call"));
      };
      // Past a timer's range (2³¹−1 ms, which Node would run after 1 ms) the ceiling ends the wait first.
      if (deadlineAt !== undefined && deadlineAt - Date.now() <= MAX_TIMER_MS) {
        timer = setTimeout(() => {
          cleanup();
          reject(new GrpcError(Status.DEADLINE_EXCEEDED, `satellite "${satellite.name}" was still waking when the call's deadline passed`));
        }, Math.max(0, deadlineAt - Date.now()));
      }
    });
  }

  private async release(awake: SatelliteRecord, committedAt?: number): Promise<Outcome> {
    const heardAt = Date.now();
    // Its failure is each call's to report (connecting again, with the reason), not the wake's.
    await this.beforeRelease(awake.id, awake.upstream!, awake.version).catch(() => {});
    if (committedAt === undefined || !Number.isFinite(committedAt)) return { ok: awake };
    return { ok: awake, at: { committed: committedAt, heard: heardAt, connected: Date.now() } };
  }

  /** Tells the held calls the outcome (see HeldCalls), and `onReleased` once all are forwarded. */
  private letGo(held: HeldCalls<Outcome>, o: Outcome): void {
    const report = this.onReleased;
    held.release(o, "ok" in o, () => {
      if (!report || !("ok" in o) || !o.at) return;
      const { ok, at } = o;
      // The last batch's calls continue in the microtasks after it: all are forwarded (or
      // answered) before the next macrotask.
      setImmediate(() => report({ satelliteId: ok.id, heardMs: at.heard - at.committed, connectedMs: at.connected - at.committed, forwardedMs: Date.now() - at.committed }));
    });
  }

  private shared(satellite: SatelliteRecord, actor: string): HeldCalls<Outcome> {
    const existing = this.inflight.get(satellite.id);
    if (existing) return existing;
    const name = satellite.name;
    const held = new HeldCalls<Outcome>();
    this.inflight.set(satellite.id, held);
    let seen = satellite.version;
    void this.watcher
      .waitUntil<Outcome>(
        satellite.id,
        async (change) => {
          // An announcement delivered late, of a change older than what was read, says nothing
          // new — and an `awake` of the wake before last names an address no longer serving it.
          if (change && change.version <= seen) return undefined;
          if (change) seen = change.version;
          // The announcement of `awake` carries the committed address: every held call can go
          // on without another round trip to Postgres (which, right after a wake, is busy).
          if (change?.to === "awake" && change.upstream) {
            return this.release({ ...satellite, state: "awake", version: change.version, upstream: change.upstream, failureReason: null, deleted: false }, Date.parse(change.at));
          }
          // Asking again on every announcement also covers a wake requested while `stopping`
          // (it follows once asleep) and a replica that lost the race (it just sees `starting`).
          const o = await requestWake(this.db, this.queues, satellite.id, { cause: "request", actor });
          if (o.satellite) seen = Math.max(seen, o.satellite.version);
          if (o.kind === "waking") return undefined;
          if (o.kind === "awake") {
            const rec = toRecord(o.satellite);
            if (rec.upstream) return this.release(rec);
            return { failed: new GrpcError(Status.UNAVAILABLE, `satellite "${name}" is awake but has no address yet; retry`) };
          }
          const deleted = !o.satellite || o.satellite.deletedAt !== null || o.satellite.state === "deleted" || o.satellite.state === "deleting";
          if (deleted) return { failed: new GrpcError(Status.FAILED_PRECONDITION, `satellite "${name}" is deleted`) };
          return { failed: new GrpcError(Status.UNAVAILABLE, `satellite "${name}" could not wake: ${o.reason}`) };
        },
        { timeoutMs: this.ceilingMs },
      )
      .catch((err: unknown): Outcome => {
        if (err instanceof WaitTimeoutError) {
          return { failed: new GrpcError(Status.UNAVAILABLE, `satellite "${name}" did not wake within ${Math.round(this.ceilingMs / 1000)} s; try again`) };
        }
        return { failed: new GrpcError(Status.UNAVAILABLE, `cannot wake satellite "${name}" right now; try again`, { cause: err }) };
      })
      .then((o) => {
        // Calls arriving from now on wait for a wake of their own (or find the satellite awake).
        this.inflight.delete(satellite.id);
        this.letGo(held, o);
      });
    return held;
  }
}
