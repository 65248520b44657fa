// What a watch stream has told its client about each satellite, by version. Postgres hands an
// announcement to the LISTEN connection a moment after its commit, so one committed just before a
// stream subscribed can arrive after the stream's first event, when the client has already read
// newer state; sent on, it would take the client back. Versions only grow (every state change is a
// transition), so anything below what the stream stood for is dropped. The same version still goes
// through: announcements of the current state with news (a purged cache, a new address) carry it.
import type { StateChange } from "@satellites/state";
import { db } from "./services.ts";

export class VersionFloor {
  private constructor(private readonly floor: Map<string, number>) {}

  /** A one-satellite stream's, from its snapshot (read after subscribing, before the first event). */
  static of(snapshot: { id: string; version: number } | null): VersionFloor {
    return new VersionFloor(new Map(snapshot ? [[snapshot.id, snapshot.version]] : []));
  }

  /** An organization's stream's, read after subscribing and before its first event (a resync: the client re-reads them). */
  static async ofOrg(orgId: string): Promise<VersionFloor> {
    const rows = await db().satellite.findMany({ where: { orgId }, select: { id: true, version: true } });
    return new VersionFloor(new Map(rows.map((r) => [r.id, r.version])));
  }

  /** Whether the change is news to the client; if so, the floor rises to it. */
  admits(change: Pick<StateChange, "id" | "version">): boolean {
    const floor = this.floor.get(change.id);
    if (floor !== undefined && change.version < floor) return false;
    this.floor.set(change.id, change.version);
    return true;
  }
}
