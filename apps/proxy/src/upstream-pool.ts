// HTTP/2 sessions to satellites, one pool per satellite. A session leaves the pool the moment it
// announces GOAWAY or closes, and the whole pool is let go when the satellite leaves `awake`
// (its address may change on the next wake). More sessions open only when the satellite's
// concurrent-stream limit is reached.
import type http2 from "node:http2";
import { connectUpstream, type UpstreamOptions } from "./upstream-connect.ts";
import { UpstreamResets } from "./upstream-resets.ts";

export interface PoolOptions extends UpstreamOptions {
  connectTimeoutMs: number;
}

interface Member {
  session: http2.ClientHttp2Session;
  /** The satellite's SETTINGS have arrived: its stream limit is known. */
  settled: boolean;
  /** The peer's SETTINGS_MAX_CONCURRENT_STREAMS, cached: reading remoteSettings is a native call. */
  maxStreams: number;
  ready: Promise<void>;
  /** Streams open or promised to callers. */
  streams: number;
  /** Resets sent on this session, against the satellite's rapid-reset limit. */
  resets: UpstreamResets;
  /** Begun on an address hint, before the satellite was known to answer (see `prepare`). */
  early: boolean;
  /** Takes this session out of the pool (no new calls), its open calls go on. */
  retire: () => void;
}

/** One stream's place on a session, given back exactly once. */
export class Slot {
  private released = false;
  constructor(private readonly member: Member) {
    member.streams++;
  }
  get session(): http2.ClientHttp2Session {
    return this.member.session;
  }
  done(): void {
    if (this.released) return;
    this.released = true;
    this.member.streams--;
  }
  /** The proxy reset this stream towards the satellite. */
  resetSent(): void {
    if (this.member.resets.sent()) this.member.retire();
  }
}

interface Pool {
  address: string;
  members: Member[];
  /**
   * The satellite's version the address was read at (0: not known, as for an address hint). An
   * announcement of an older change, delivered late, does not let the pool go (see `drop`).
   */
  version: number;
}

/** Callers that may wait on one session whose SETTINGS have not arrived yet. */
const UNSETTLED_LIMIT = 1000;

const usable = (m: Member): boolean => !m.session.closed && !m.session.destroyed;

export class UpstreamPool {
  private readonly pools = new Map<string, Pool>();
  /** Every open session per satellite, in the pool or not (draining, or left on GOAWAY). */
  private readonly open = new Map<string, Set<http2.ClientHttp2Session>>();

  constructor(
    private readonly opts: PoolOptions,
    private readonly onEvent: (satelliteId: string, event: string, detail?: string) => void,
  ) {}

  /** A settled session with room for one more stream, if there is one right now. */
  ready(satelliteId: string, address: string): Slot | undefined {
    const pool = this.pools.get(satelliteId);
    if (!pool || pool.address !== address) return undefined;
    for (const m of pool.members) if (m.settled && m.streams < m.maxStreams && usable(m)) return new Slot(m);
    return undefined;
  }

  /** A session to `address` (read at the satellite's `version`) with room for one more stream, once it is usable. */
  async connection(satelliteId: string, address: string, version = 0): Promise<Slot> {
    let pool = this.pools.get(satelliteId);
    if (pool && pool.address !== address) {
      this.drop(satelliteId, "address changed");
      pool = undefined;
    }
    if (!pool) {
      pool = { address, members: [], version };
      this.pools.set(satelliteId, pool);
    } else pool.version = Math.max(pool.version, version);
    // Until a session's SETTINGS arrive its stream limit is unknown: callers queue on it rather
    // than opening more sessions (a wake releases hundreds of calls at once).
    let member = pool.members.find((m) => usable(m) && m.streams < (m.settled ? m.maxStreams : UNSETTLED_LIMIT));
    if (!member) {
      member = this.connect(satelliteId, pool);
      pool.members.push(member);
    }
    const slot = new Slot(member);
    try {
      await member.ready;
    } catch (err) {
      slot.done();
      throw err;
    }
    if (!usable(member)) {
      slot.done();
      throw new Error(`the connection to the satellite at ${address} closed`);
    }
    return slot;
  }

  /** Connects ahead of the first call (the satellite just became awake at `version`), if not connected yet; resolves once usable. */
  warm(satelliteId: string, address: string, version = 0): Promise<void> {
    const pool = this.pools.get(satelliteId);
    const live = pool?.address === address ? pool.members.find(usable) : undefined;
    if (!pool || !live) return this.begin(satelliteId, address, false, version);
    pool.version = Math.max(pool.version, version);
    if (live.settled || !live.early) return live.ready;
    // Begun on a hint and not up yet: it may be stuck on a machine that was not listening
    // then (a SYN waiting for its retransmission). A second try races it; the first up serves.
    const second = this.connect(satelliteId, pool);
    pool.members.push(second);
    return Promise.any([live.ready, second.ready]).catch(() => second.ready);
  }

  /**
   * A head start for a satellite that is starting: its address is known (an address hint from
   * the jobs worker) but its health probe has not passed. Nothing is routed here until `awake`
   * names the same address; a failed attempt only costs the head start.
   */
  prepare(satelliteId: string, address: string): void {
    const pool = this.pools.get(satelliteId);
    if (pool?.address === address && pool.members.some(usable)) return;
    void this.begin(satelliteId, address, true);
  }

  /** A new pool with one connection; the one it replaces (another address, or none usable left) drains. */
  private begin(satelliteId: string, address: string, early: boolean, version = 0): Promise<void> {
    if (this.pools.has(satelliteId)) this.drop(satelliteId, "replaced by a new connection");
    const pool: Pool = { address, members: [], version };
    this.pools.set(satelliteId, pool);
    const member = this.connect(satelliteId, pool);
    member.early = early;
    pool.members.push(member);
    return member.ready;
  }

  private connect(satelliteId: string, pool: Pool): Member {
    const session = connectUpstream({ satelliteId, address: pool.address }, this.opts);
    const member: Member = { session, settled: false, maxStreams: 100, streams: 0, ready: Promise.resolve(), resets: new UpstreamResets(), retire: () => {}, early: false };
    const leave = (why: string, detail?: string): void => {
      const i = pool.members.indexOf(member);
      if (i >= 0) {
        pool.members.splice(i, 1);
        this.onEvent(satelliteId, why, detail);
      }
    };
    member.retire = () => {
      leave("retired", "many streams reset: the next calls take a fresh connection");
      // Graceful: open streams finish on it; it closes once they have.
      if (!session.closed) session.close();
    };
    member.ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => session.destroy(new Error(`connect timeout after ${this.opts.connectTimeoutMs} ms`)), this.opts.connectTimeoutMs);
      session.on("remoteSettings", (settings) => {
        // No limit announced means none (nghttp2 reports 2^32-1); callers beyond it queue there.
        member.maxStreams = settings.maxConcurrentStreams ?? 0xffffffff;
        if (member.settled) return;
        member.settled = true;
        clearTimeout(timer);
        resolve();
      });
      session.once("close", () => {
        clearTimeout(timer);
        reject(new Error(`cannot connect to satellite at ${pool.address}`));
      });
    });
    member.ready.catch(() => {});
    let lastError: string | undefined;
    session.on("error", (err) => {
      lastError = err.message;
      leave("error", err.message);
    });
    session.on("goaway", (code) => leave("goaway", String(code)));
    session.once("close", () => {
      const set = this.open.get(satelliteId);
      if (set?.delete(session) && set.size === 0) this.open.delete(satelliteId);
      leave("close", lastError);
    });
    this.open.set(satelliteId, (this.open.get(satelliteId) ?? new Set()).add(session));
    // Idle sessions must not keep the process alive on shutdown.
    session.unref();
    return member;
  }

  /**
   * Lets go of every session to the satellite; new calls get a new one. `drain`: open streams
   * finish. `cut`: the machine is gone or going, so nobody will answer them — they end now
   * (UNAVAILABLE for their callers), and so does every session still draining from before.
   * `version`: the announced change's; one older than the pool's address, delivered late (the
   * sleep before the wake the pool was made for), changes nothing.
   */
  drop(satelliteId: string, why: string, how: "drain" | "cut" = "drain", version?: number): void {
    const pool = this.pools.get(satelliteId);
    if (pool && version !== undefined && version < pool.version) return;
    this.pools.delete(satelliteId);
    if (how === "drain") {
      for (const m of pool?.members ?? []) if (!m.session.closed) m.session.close();
    } else {
      for (const s of [...(this.open.get(satelliteId) ?? [])]) s.destroy(new Error(`satellite ${why}`));
    }
  }

  destroy(): void {
    for (const set of [...this.open.values()]) for (const s of [...set]) s.destroy();
    this.pools.clear();
  }
}
