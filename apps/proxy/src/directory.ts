// Satellites by (organization, name), read from Postgres and cached. Every committed state
// change is announced, and the announcement drops the entry, so the cache is never behind the
// database by more than the announcement's own latency; a TTL bounds anything unannounced.
import type { Db } from "@satellites/db";
import type { StateChange } from "@satellites/state";

export interface SatelliteRecord {
  id: string;
  orgId: string;
  name: string;
  state: string;
  version: number;
  upstream: string | null;
  failureReason: string | null;
  deleted: boolean;
}

interface Entry {
  value: SatelliteRecord | null;
  until: number;
}

const SELECT = { id: true, orgId: true, name: true, state: true, version: true, upstream: true, failureReason: true, deletedAt: true } as const;

export interface DirectoryOptions {
  ttlMs: number;
  /** Misses are cached more briefly: a satellite created elsewhere should become usable soon. */
  missTtlMs: number;
}

export class SatelliteDirectory {
  private readonly entries = new Map<string, Entry>();
  private readonly keyById = new Map<string, string>();
  private readonly pending = new Map<string, Promise<SatelliteRecord | null>>();
  /** Reads that must not be answered from the cache, with when (performance.now()) each began. */
  private readonly freshReads = new Map<string, { startedAt: number; read: Promise<SatelliteRecord | null> }>();
  /** Bumped on every invalidation, so a read that raced one does not repopulate stale data. */
  private epoch = 0;
  /** The latest version announced per satellite: a record older than it is not remembered. */
  private readonly announced = new Map<string, number>();

  constructor(
    private readonly db: Db,
    private readonly opts: DirectoryOptions,
  ) {}

  /** A cached answer without waiting: the record, null for a cached miss, undefined when not cached. */
  cached(orgId: string, name: string): SatelliteRecord | null | undefined {
    const hit = this.entries.get(`${orgId}\u0000${name}`);
    return hit && hit.until > Date.now() ? hit.value : undefined;
  }

  /**
   * The live satellite with this name in the organization or, if none, its most recently deleted
   * namesake (so "deleted" can be told apart from "never existed"); null when neither exists.
   */
  async lookup(orgId: string, name: string): Promise<SatelliteRecord | null> {
    const key = `${orgId}\u0000${name}`;
    const hit = this.entries.get(key);
    if (hit && hit.until > Date.now()) return hit.value;
    const inflight = this.pending.get(key);
    if (inflight) return inflight;
    const read = this.readAndStore(key, orgId, name);
    this.pending.set(key, read);
    void read.finally(() => this.pending.delete(key)).catch(() => {});
    return read;
  }

  /**
   * Like lookup, but from a query that began no earlier than `notBefore` (a performance.now()
   * time, e.g. when the caller's lease was written), never from the cache. Callers that wait for
   * the same thing share one query: a burst of held calls costs one read, not one each.
   */
  lookupFresh(orgId: string, name: string, notBefore: number): Promise<SatelliteRecord | null> {
    const key = `${orgId}\u0000${name}`;
    const inflight = this.freshReads.get(key);
    if (inflight && inflight.startedAt >= notBefore) return inflight.read;
    const entry = { startedAt: performance.now(), read: this.readAndStore(key, orgId, name) };
    this.freshReads.set(key, entry);
    void entry.read
      .finally(() => {
        if (this.freshReads.get(key) === entry) this.freshReads.delete(key);
      })
      .catch(() => {});
    return entry.read;
  }

  private readAndStore(key: string, orgId: string, name: string): Promise<SatelliteRecord | null> {
    const epoch = this.epoch;
    return this.read(orgId, name).then((value) => {
      if (this.epoch === epoch) this.store(key, value);
      return value;
    });
  }

  /** Records what the caller just read (e.g. the row a wake returned). */
  remember(record: SatelliteRecord): void {
    // Calls released by a wake remember it a batch per turn: a sleep announced in between wins.
    if ((this.announced.get(record.id) ?? -1) > record.version) return;
    this.store(`${record.orgId}\u0000${record.name}`, record);
  }

  private async read(orgId: string, name: string): Promise<SatelliteRecord | null> {
    const row = await this.db.satellite.findFirst({
      where: { orgId, name },
      orderBy: [{ deletedAt: { sort: "desc", nulls: "first" } }],
      select: SELECT,
    });
    return row ? toRecord(row) : null;
  }

  private store(key: string, value: SatelliteRecord | null): void {
    this.entries.set(key, { value, until: Date.now() + (value ? this.opts.ttlMs : this.opts.missTtlMs) });
    if (value) this.keyById.set(value.id, key);
    if (this.entries.size > 50_000) this.sweep();
  }

  private sweep(): void {
    const now = Date.now();
    for (const [k, v] of this.entries) {
      if (v.until > now) continue;
      this.entries.delete(k);
      if (v.value) this.keyById.delete(v.value.id);
    }
  }

  onChange(change: StateChange): void {
    this.epoch++;
    if (change.version > (this.announced.get(change.id) ?? -1)) this.announced.set(change.id, change.version);
    if (this.announced.size > 100_000) this.announced.clear();
    const key = this.keyById.get(change.id);
    if (key) this.entries.delete(key);
    // A new satellite may turn a cached miss in its organization into a hit.
    if (change.from === null) {
      const prefix = `${change.orgId}\u0000`;
      for (const [k, v] of this.entries) if (v.value === null && k.startsWith(prefix)) this.entries.delete(k);
    }
  }

  /** Announcements may have been missed (listener reconnected): forget everything. */
  clear(): void {
    this.epoch++;
    this.entries.clear();
    this.keyById.clear();
    this.announced.clear();
  }
}

export function toRecord(row: { id: string; orgId: string; name: string; state: string; version: number; upstream: string | null; failureReason: string | null; deletedAt: Date | null }): SatelliteRecord {
  return {
    id: row.id,
    orgId: row.orgId,
    name: row.name,
    state: row.state,
    version: row.version,
    upstream: row.upstream,
    failureReason: row.failureReason,
    deleted: row.deletedAt !== null || row.state === "deleted" || row.state === "deleting",
  };
}
