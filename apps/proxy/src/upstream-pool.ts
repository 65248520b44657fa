// HTTP/2 connections to satellites, one pool per satellite. A connection leaves the pool the
// moment it announces GOAWAY or closes, and the whole pool is let go when the satellite leaves
// `awake` (its address may change on the next wake). More connections open only when the
// upstream's concurrent-stream limit is reached.
import net from "node:net";
import { Connection } from "./h2/connection.ts";
import { ReadSlab } from "./h2/frames.ts";

export interface PoolOptions {
  /** Per-stream receive window on upstream connections. */
  streamWindow: number;
  /** Connection-level receive window on upstream connections. */
  sessionWindow: number;
  connectTimeoutMs: number;
  maxHeaderListBytes: number;
}

interface Member {
  conn: Connection;
  ready: Promise<void>;
  /** Callers that waited for this connection and have not opened their stream yet. */
  reserved: number;
}

interface Pool {
  address: string;
  members: Member[];
}

/** Callers that may wait on one connection whose SETTINGS have not arrived yet. */
const UNSETTLED_LIMIT = 1000;

/** host:port, with [v6] brackets allowed. */
function splitAddress(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(":");
  return { host: address.slice(0, i).replace(/^\[|\]$/g, ""), port: Number(address.slice(i + 1)) };
}

export class UpstreamPool {
  private readonly pools = new Map<string, Pool>();
  /** Every open connection per satellite, in the pool or not (draining, or left on GOAWAY). */
  private readonly open = new Map<string, Set<Connection>>();

  constructor(
    private readonly opts: PoolOptions,
    private readonly onEvent: (satelliteId: string, event: string, detail?: string) => void,
  ) {}

  /** A connected connection with room for one more stream, if there is one right now. */
  ready(satelliteId: string, address: string): Connection | undefined {
    const pool = this.pools.get(satelliteId);
    if (!pool || pool.address !== address) return undefined;
    for (const m of pool.members) if (m.conn.hasRoom(m.reserved)) return m.conn;
    return undefined;
  }

  /**
   * A connection to `address` with room for one more stream. The room is held for the caller
   * until it calls `opened()` (after opening its stream, or deciding not to).
   */
  async connection(satelliteId: string, address: string): Promise<{ conn: Connection; opened: () => void }> {
    let pool = this.pools.get(satelliteId);
    if (pool && pool.address !== address) {
      this.drop(satelliteId, "address changed");
      pool = undefined;
    }
    if (!pool) {
      pool = { address, members: [] };
      this.pools.set(satelliteId, pool);
    }
    for (;;) {
      // Until a connection's SETTINGS arrive its stream limit is unknown: callers queue on it
      // rather than opening more connections (a wake releases hundreds of calls at once).
      let member = pool.members.find((m) => !m.conn.draining && !m.conn.closed && (m.conn.ready ? m.conn.openStreams + m.reserved < m.conn.peerMaxStreams : m.reserved < UNSETTLED_LIMIT));
      if (!member) {
        member = this.connect(satelliteId, pool);
        pool.members.push(member);
      }
      const m = member;
      m.reserved++;
      let released = false;
      const opened = (): void => {
        if (released) return;
        released = true;
        m.reserved--;
      };
      try {
        await m.ready;
      } catch (err) {
        opened();
        throw err;
      }
      if (m.conn.closed || m.conn.draining) {
        opened();
        throw new Error(`the connection to the satellite at ${address} closed`);
      }
      // Callers resume one at a time and open their stream at once, so this count is current.
      if (m.conn.openStreams < m.conn.peerMaxStreams) return { conn: m.conn, opened };
      opened();
      if (this.pools.get(satelliteId) !== pool) throw new Error(`the connections to the satellite at ${address} were let go`);
    }
  }

  /** Connects ahead of the first call (the satellite just became awake), if not connected yet; resolves once usable. */
  warm(satelliteId: string, address: string): Promise<void> {
    const pool = this.pools.get(satelliteId);
    const live = pool?.address === address ? pool.members.find((m) => !m.conn.draining && !m.conn.closed) : undefined;
    if (live) return live.ready;
    if (pool) this.drop(satelliteId, "address changed");
    const fresh: Pool = { address, members: [] };
    this.pools.set(satelliteId, fresh);
    const member = this.connect(satelliteId, fresh);
    fresh.members.push(member);
    return member.ready;
  }

  private connect(satelliteId: string, pool: Pool): Member {
    const { host, port } = splitAddress(pool.address);
    const slab = new ReadSlab();
    const socket = net.connect({
      host,
      port,
      // Small gRPC frames must not wait for Nagle's algorithm (and the peer's delayed ACK).
      noDelay: true,
      // Large reads: satellites' responses (build outputs, layers) are the bulk of what we relay.
      onread: {
        buffer: slab.next,
        callback: (n, region) => {
          conn.receive(slab.take(region, n));
          return true;
        },
      },
    });
    let resolve!: () => void;
    let reject!: (err: Error) => void;
    const ready = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    ready.catch(() => {});
    const timer = setTimeout(() => socket.destroy(new Error(`connect timeout after ${this.opts.connectTimeoutMs} ms`)), this.opts.connectTimeoutMs);
    const leave = (why: string, detail?: string): void => {
      const i = pool.members.indexOf(member);
      if (i >= 0) {
        pool.members.splice(i, 1);
        this.onEvent(satelliteId, why, detail);
      }
    };
    const conn = new Connection(
      socket,
      { role: "client", streamWindow: this.opts.streamWindow, connectionWindow: this.opts.sessionWindow, maxHeaderListBytes: this.opts.maxHeaderListBytes },
      {
        onReady: () => {
          clearTimeout(timer);
          resolve();
        },
        onGoaway: (_last, code) => leave("goaway", String(code)),
        onClose: (err) => {
          clearTimeout(timer);
          const set = this.open.get(satelliteId);
          if (set?.delete(conn) && set.size === 0) this.open.delete(satelliteId);
          reject(new Error(`cannot connect to satellite at ${pool.address}${err ? `: ${err.message}` : ""}`));
          leave("close", err?.message);
        },
      },
    );
    this.open.set(satelliteId, (this.open.get(satelliteId) ?? new Set<Connection>()).add(conn));
    // Idle connections must not keep the process alive on shutdown.
    socket.unref();
    const member: Member = { conn, ready, reserved: 0 };
    return member;
  }

  /**
   * Lets go of every connection to the satellite; new calls get a new one. `drain`: open streams
   * finish. `cut`: the machine is gone or going, so nobody will answer them — they end now
   * (UNAVAILABLE for their callers), and so does every connection still draining from before.
   */
  drop(satelliteId: string, why: string, how: "drain" | "cut" = "drain"): void {
    const pool = this.pools.get(satelliteId);
    this.pools.delete(satelliteId);
    if (how === "drain") for (const m of pool?.members ?? []) m.conn.shutdown();
    else for (const c of [...(this.open.get(satelliteId) ?? [])]) c.destroy(new Error(`satellite ${why}`));
  }

  destroy(): void {
    for (const set of [...this.open.values()]) for (const c of [...set]) c.destroy();
    this.pools.clear();
  }
}
