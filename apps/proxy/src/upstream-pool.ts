// HTTP/2 sessions to satellites, one pool per satellite. A session leaves the pool the moment it
// announces GOAWAY or closes, and the whole pool is closed when the satellite leaves `awake`
// (its address may change on the next wake). More sessions open only when the upstream's
// concurrent-stream limit is reached.
import http2 from "node:http2";
import net from "node:net";

export interface PoolOptions {
  /** Per-stream receive window on upstream sessions. */
  streamWindow: number;
  /** Connection-level receive window on upstream sessions. */
  sessionWindow: number;
  connectTimeoutMs: number;
}

interface Member {
  session: http2.ClientHttp2Session;
  connected: boolean;
  /** The peer's SETTINGS_MAX_CONCURRENT_STREAMS, cached: reading remoteSettings is a native call. */
  maxStreams: number;
  ready: Promise<void>;
  streams: number;
}

/** One stream's place on a session, given back exactly once. */
class Slot {
  private released = false;
  constructor(private readonly member: Member) {}
  get session(): http2.ClientHttp2Session {
    return this.member.session;
  }
  done(): void {
    if (this.released) return;
    this.released = true;
    this.member.streams--;
  }
}

interface Pool {
  address: string;
  members: Member[];
}

export class UpstreamPool {
  private readonly pools = new Map<string, Pool>();

  constructor(
    private readonly opts: PoolOptions,
    private readonly onEvent: (satelliteId: string, event: string, detail?: string) => void,
  ) {}

  /** A connected session with room for one more stream, if there is one right now. */
  ready(satelliteId: string, address: string): { session: http2.ClientHttp2Session; done: () => void } | undefined {
    const pool = this.pools.get(satelliteId);
    if (!pool || pool.address !== address) return undefined;
    const m = pool.members.find((x) => x.connected && x.streams < x.maxStreams && !x.session.closed);
    if (!m) return undefined;
    m.streams++;
    return new Slot(m);
  }

  /** A session to `address` with room for one more stream, connected. */
  async session(satelliteId: string, address: string): Promise<{ session: http2.ClientHttp2Session; done: () => void }> {
    let pool = this.pools.get(satelliteId);
    if (pool && pool.address !== address) {
      this.drop(satelliteId, "address changed");
      pool = undefined;
    }
    if (!pool) {
      pool = { address, members: [] };
      this.pools.set(satelliteId, pool);
    }
    let member = pool.members.find((m) => m.streams < m.maxStreams && !m.session.closed && !m.session.destroyed);
    if (!member) {
      member = this.connect(satelliteId, pool);
      pool.members.push(member);
    }
    member.streams++;
    const m = member;
    let released = false;
    const done = (): void => {
      if (released) return;
      released = true;
      m.streams--;
    };
    try {
      await m.ready;
    } catch (err) {
      done();
      throw err;
    }
    return { session: m.session, done };
  }

  private connect(satelliteId: string, pool: Pool): Member {
    const session = http2.connect(`http://${pool.address}`, {
      // Small gRPC frames must not wait for Nagle's algorithm (and the peer's delayed ACK).
      createConnection: (url: URL) => net.connect({ host: url.hostname.replace(/^\[|\]$/g, ""), port: Number(url.port), noDelay: true }),
      settings: { initialWindowSize: this.opts.streamWindow, enablePush: false },
      maxSessionMemory: 64,
      // The client's own limits are not the proxy's business: the upstream enforces its own.
      maxHeaderListPairs: 4096,
      peerMaxConcurrentStreams: 1000,
    });
    // Until the peer's SETTINGS arrive its limit is unknown; gRPC servers allow at least 100.
    const member: Member = { session, connected: false, maxStreams: 100, streams: 0, ready: Promise.resolve() };
    session.on("remoteSettings", (settings) => {
      member.maxStreams = settings.maxConcurrentStreams ?? 100;
    });
    const leave = (why: string, detail?: string): void => {
      const i = pool.members.indexOf(member);
      if (i >= 0) {
        pool.members.splice(i, 1);
        this.onEvent(satelliteId, why, detail);
      }
    };
    member.ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        session.destroy(new Error(`connect timeout after ${this.opts.connectTimeoutMs} ms`));
      }, this.opts.connectTimeoutMs);
      session.once("connect", () => {
        clearTimeout(timer);
        session.setLocalWindowSize(this.opts.sessionWindow);
        member.connected = true;
        resolve();
      });
      session.once("close", () => {
        clearTimeout(timer);
        reject(new Error(`cannot connect to satellite at ${pool.address}`));
      });
    });
    member.ready.catch(() => {});
    session.on("goaway", (code) => leave("goaway", String(code)));
    session.on("close", () => leave("close"));
    session.on("error", (err) => leave("error", err.message));
    // Idle sessions must not keep the process alive on shutdown.
    session.unref();
    return member;
  }

  /** Closes every session to the satellite; open streams finish, new calls get a new session. */
  drop(satelliteId: string, _why: string): void {
    const pool = this.pools.get(satelliteId);
    if (!pool) return;
    this.pools.delete(satelliteId);
    for (const m of pool.members) if (!m.session.closed) m.session.close();
  }

  close(): void {
    for (const id of [...this.pools.keys()]) this.drop(id, "shutdown");
  }

  destroy(): void {
    for (const pool of this.pools.values()) for (const m of pool.members) m.session.destroy();
    this.pools.clear();
  }
}
