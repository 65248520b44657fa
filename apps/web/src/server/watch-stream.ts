// satellite.watch's stream: every committed state change of one satellite or of an
// organization's satellites, as server-sent events, until the client leaves or its access is
// taken away. Changes and revocations come from the process's one LISTEN connection, in commit
// order (services.ts), so a change committed after a revocation is never sent.
import type { StateChange, StateWatcher } from "@satellites/state";
import { TRPCError } from "@trpc/server";
import { requireOrg, requireSatellite } from "./access.ts";
import { AccessWatch } from "./access-watch.ts";
import { announcements, db, watcher } from "./services.ts";
import type { Principal } from "./trpc.ts";
import { VersionFloor } from "./version-floor.ts";

export type WatchEvent =
  | ({ type: "change" } & StateChange)
  | { type: "snapshot"; id: string; orgId: string; state: StateChange["to"]; version: number; at: string }
  /** Announcements may have been missed (the server's LISTEN connection reconnected): re-read. */
  | { type: "resync" };

export interface WatchInput {
  orgId?: string | undefined;
  id?: string | undefined;
}

/** Revocations and the periodic re-read wait this long at most; so does an idle stream's loop. */
const RECHECK_MS = 30_000;
/** Events held for a client that stops reading before they collapse into one resync. */
const MAX_PENDING = 1000;

/** The events heard for one stream and not sent yet; `wait` until there are some (or a timeout). */
class PendingEvents {
  private readonly events: WatchEvent[] = [];
  private wake: (() => void) | null = null;

  push(e: WatchEvent): void {
    // A consumer that stops reading must not grow the buffer forever: collapse to a resync.
    if (this.events.length > MAX_PENDING) this.events.splice(0, this.events.length, { type: "resync" });
    else this.events.push(e);
    this.poke();
  }

  shift(): WatchEvent | undefined {
    return this.events.shift();
  }

  /** Ends a `wait` now (an event, a revocation, a re-check due). */
  poke(): void {
    this.wake?.();
  }

  /** Resolves once something is pending, `poke` is called, the signal aborts, or after `ms`. */
  async wait(ms: number, signal: AbortSignal | undefined): Promise<void> {
    if (this.events.length > 0) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
      signal?.addEventListener("abort", done, { once: true });
    });
    this.wake = null;
  }
}

/** Listening for revocations starts before access is first checked: none can fall between. */
async function watchAccess(principal: Principal, input: WatchInput): Promise<{ access: AccessWatch; orgId: string }> {
  const access = new AccessWatch(principal, await announcements());
  try {
    const orgId = input.id
      ? (await requireSatellite(principal, input.id, "member", "watch satellites", { allowDeleted: true })).satellite.orgId
      : (await requireOrg(principal, input.orgId, "member", "watch satellites")).orgId;
    access.bind(orgId);
    return { access, orgId };
  } catch (err) {
    access.close();
    throw err;
  }
}

function follow(w: StateWatcher, orgId: string, input: WatchInput, pending: PendingEvents): () => void {
  return w.subscribe(
    (c) => {
      if (c.orgId === orgId && (!input.id || c.id === input.id)) pending.push({ type: "change", ...c });
    },
    () => pending.push({ type: "resync" }),
  );
}

/**
 * The first event, read once the subscription is in place (SSE's "connected" comes before this
 * runs): whatever a client reads on receiving it, later changes still arrive. One satellite: its
 * state now. An organization: resync, "read what you show now". No change older than what it
 * stood for follows it.
 */
async function firstEvent(orgId: string, input: WatchInput): Promise<{ event: WatchEvent; versions: VersionFloor }> {
  if (!input.id) return { event: { type: "resync" }, versions: await VersionFloor.ofOrg(orgId) };
  const s = await db().satellite.findUnique({ where: { id: input.id }, select: { id: true, orgId: true, state: true, version: true, stateChangedAt: true } });
  const event: WatchEvent = s ? { type: "snapshot", id: s.id, orgId: s.orgId, state: s.state, version: s.version, at: s.stateChangedAt.toISOString() } : { type: "resync" };
  return { event, versions: VersionFloor.of(s) };
}

/** Live views one caller (a person, across sessions and tabs, or a token) may hold open in this process. */
const MAX_WATCHES_PER_CALLER = 32;
const openWatches = new Map<string, number>();

/** Counts one more open watch for the caller, or refuses it; the returned function gives it back. */
function holdWatch(principal: Principal): () => void {
  const key = principal.kind === "user" ? `user:${principal.userId}` : `token:${principal.tokenId}`;
  const n = openWatches.get(key) ?? 0;
  if (n >= MAX_WATCHES_PER_CALLER) {
    throw new TRPCError({ code: "TOO_MANY_REQUESTS", message: `${MAX_WATCHES_PER_CALLER} live views open for this account already: close some tabs (or streams) and try again` });
  }
  openWatches.set(key, n + 1);
  return () => {
    const left = (openWatches.get(key) ?? 1) - 1;
    if (left > 0) openWatches.set(key, left);
    else openWatches.delete(key);
  };
}

export async function* watchStream(principal: Principal, input: WatchInput, signal: AbortSignal | undefined): AsyncGenerator<WatchEvent> {
  const release = holdWatch(principal);
  try {
    yield* watching(principal, input, signal);
  } finally {
    release();
  }
}

async function* watching(principal: Principal, input: WatchInput, signal: AbortSignal | undefined): AsyncGenerator<WatchEvent> {
  const { access, orgId } = await watchAccess(principal, input);
  const pending = new PendingEvents();
  let unsubscribe = () => {};
  try {
    unsubscribe = follow(await watcher(), orgId, input, pending);
    access.onChange = () => pending.poke();
    await access.check();
    const { event, versions } = await firstEvent(orgId, input);
    yield event;
    let checkedAt = Date.now();
    while (!signal?.aborted) {
      await pending.wait(RECHECK_MS, signal);
      // Revocations are announced and end the stream at once (an error the client does not
      // retry); a re-read now and then is the backstop.
      if (Date.now() - checkedAt > RECHECK_MS) {
        checkedAt = Date.now();
        access.recheckSoon();
      }
      for (;;) {
        // Before every event: a revocation heard while the one before went out stops the rest.
        await access.check();
        const e = pending.shift();
        if (!e) break;
        if (e.type !== "change" || versions.admits(e)) yield e;
      }
    }
  } finally {
    unsubscribe();
    access.close();
  }
}
