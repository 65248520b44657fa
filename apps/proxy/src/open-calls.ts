// Every call this replica is forwarding right now, with whose token and which satellite it is,
// so that any of them can be ended from outside with a gRPC status: a revoked token, a removed
// creator or a deleted satellite (the announcements the proxy listens to), or a shutdown.
import type { Call } from "./forward.ts";

export interface OpenCall {
  readonly tokenId: string;
  readonly orgId: string;
  readonly satelliteId: string;
  readonly call: Call;
}

export class OpenCalls {
  private readonly calls = new Set<OpenCall>();

  /** Registers a forwarded call; returns what removes it (called when the call is over). */
  add(entry: OpenCall): () => void {
    this.calls.add(entry);
    return () => this.calls.delete(entry);
  }

  get size(): number {
    return this.calls.size;
  }

  /** Ends every open call `match` selects with `code` and `message`; returns how many. */
  endWhere(match: (c: OpenCall) => boolean, code: number, message: string): number {
    let n = 0;
    for (const entry of [...this.calls]) {
      if (!match(entry)) continue;
      entry.call.end(code, message);
      n++;
    }
    return n;
  }
}
