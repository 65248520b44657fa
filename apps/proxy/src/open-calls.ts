// Every call this replica is forwarding right now, with whose token or client certificate and
// which satellite it is, so that any of them can be ended from outside with a gRPC status: a
// revoked token or certificate, a removed creator, a deleted satellite (the announcements the
// proxy listens to), a certificate's expiry, or a shutdown.
// Revoked credentials and deleted satellites never come back, so those endings are remembered: a call
// authorized just before the announcement that registers just after it (e.g. it waited for a
// wake) is ended as it registers.
import type { Call } from "./forward.ts";

export interface OpenCall {
  readonly tokenId?: string;
  readonly certificateId?: string;
  /** When its credential stops working (ms since the epoch): the call ends then. */
  readonly expiresAt?: number;
  readonly orgId: string;
  readonly satelliteId: string;
  readonly call: Call;
}

interface Ending {
  code: number;
  message: string;
}

/** Remembered endings, oldest dropped first beyond this many (ids are small; the bound is generous). */
const MAX_REMEMBERED = 100_000;

export class OpenCalls {
  private readonly calls = new Set<OpenCall>();
  private readonly endedTokens = new Map<string, Ending>();
  private readonly endedCertificates = new Map<string, Ending>();
  private readonly endedSatellites = new Map<string, Ending>();

  /** Registers a forwarded call; returns what removes it (called when the call is over). */
  add(entry: OpenCall): () => void {
    const ended =
      (entry.tokenId !== undefined ? this.endedTokens.get(entry.tokenId) : undefined) ??
      (entry.certificateId !== undefined ? this.endedCertificates.get(entry.certificateId) : undefined) ??
      this.endedSatellites.get(entry.satelliteId);
    if (ended) {
      entry.call.end(ended.code, ended.message);
      return () => {};
    }
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

  /** Ends the token's open calls, and any it opens from now on; returns how many were open. */
  endToken(tokenId: string, code: number, message: string): number {
    remember(this.endedTokens, tokenId, { code, message });
    return this.endWhere((c) => c.tokenId === tokenId, code, message);
  }

  /** Ends the certificate's open calls, and any it opens from now on; returns how many were open. */
  endCertificate(certificateId: string, code: number, message: string): number {
    remember(this.endedCertificates, certificateId, { code, message });
    return this.endWhere((c) => c.certificateId === certificateId, code, message);
  }

  /** Ends the calls whose token, or whose certificate, has expired by `now`; returns how many. */
  endExpired(now: number, kind: "token" | "certificate", code: number, message: string): number {
    return this.endWhere((c) => c.expiresAt !== undefined && c.expiresAt <= now && (kind === "token" ? c.tokenId : c.certificateId) !== undefined, code, message);
  }

  /** Ends the satellite's open calls, and any opened from now on; returns how many were open. */
  endSatellite(satelliteId: string, code: number, message: string): number {
    remember(this.endedSatellites, satelliteId, { code, message });
    return this.endWhere((c) => c.satelliteId === satelliteId, code, message);
  }

  /** The tokens of the open calls (re-checked when announcements may have been missed). */
  tokenIds(): string[] {
    return [...new Set([...this.calls].flatMap((c) => (c.tokenId !== undefined ? [c.tokenId] : [])))];
  }

  /** The client certificates of the open calls (re-checked when announcements may have been missed). */
  certificateIds(): string[] {
    return [...new Set([...this.calls].flatMap((c) => (c.certificateId !== undefined ? [c.certificateId] : [])))];
  }

  /** The satellites of the open calls (re-checked when announcements may have been missed). */
  satelliteIds(): string[] {
    return [...new Set([...this.calls].map((c) => c.satelliteId))];
  }
}

function remember(map: Map<string, Ending>, key: string, ending: Ending): void {
  map.set(key, ending);
  if (map.size > MAX_REMEMBERED) map.delete(map.keys().next().value!);
}
