// The one place that decides where a call goes: the caller's organization (from its token or
// client certificate), the satellite's record in Postgres (through the directory cache), its
// state, and the wake. The upstream address comes only from that record, never from anything
// the client sent; a certificate's satellite is checked by id, so a namesake created after its
// satellite was deleted is never reached with it.
import type { Credential } from "./credential.ts";
import type { SatelliteDirectory, SatelliteRecord } from "./directory.ts";
import { GrpcError, Status } from "./grpc.ts";
import type { LeaseKeeper } from "./leases.ts";
import type { CallMetadata } from "./metadata.ts";
import type { Caller, WakeWaiter } from "./wake-wait.ts";

export interface Route {
  satellite: SatelliteRecord;
  /** Who the call acts as (its actor for history and build records). */
  credential: Credential;
  upstream: string;
  /** Time spent waiting for a wake, 0 when the satellite was awake. */
  waitedMs: number;
  /** Ends the call's hold on the satellite's activity lease; call exactly once. */
  release(): void;
}

/** A call's hold on its satellite's lease, released exactly once. */
class Hold implements Route {
  private released = false;
  constructor(
    private readonly leases: LeaseKeeper,
    readonly satellite: SatelliteRecord,
    readonly credential: Credential,
    readonly upstream: string,
    readonly waitedMs: number,
  ) {}
  release(): void {
    if (this.released) return;
    this.released = true;
    this.leases.close(this.satellite.id);
  }
}

export class Director {
  constructor(
    private readonly directory: SatelliteDirectory,
    private readonly leases: LeaseKeeper,
    private readonly waker: WakeWaiter,
  ) {}

  /**
   * The no-wait path for steady traffic: everything cached, this replica's lease live, the
   * satellite awake. Undefined means "take the full path" (never a refusal).
   */
  tryRoute(meta: CallMetadata, identity: Credential): Route | undefined {
    if (meta.org !== identity.orgId) return undefined;
    const s = this.directory.cached(identity.orgId, meta.name);
    if (!s || s.deleted || s.state !== "awake" || !s.upstream) return undefined;
    if (identity.satelliteId !== undefined && s.id !== identity.satelliteId) return undefined;
    if (!this.leases.tryOpen(s.id)) return undefined;
    return new Hold(this.leases, s, identity, s.upstream, 0);
  }

  async route(meta: CallMetadata, identity: Credential, startedAt: number, caller: Caller): Promise<Route> {
    // Always the same lookup, whatever satellite_org says: another tenant's satellite, a missing
    // one and a wrong org take the same path and get the same answer.
    const found = await this.directory.lookup(identity.orgId, meta.name);
    if (!found || meta.org !== identity.orgId) {
      throw new GrpcError(Status.NOT_FOUND, `satellite "${meta.name}" not found in organization ${meta.org}`);
    }
    refuseUnusable(found);
    refuseOtherSatellite(found, identity);

    const writtenAt = await this.leases.open(found.id);
    try {
      // Lease first, then a fresh read (the contract with the idle scan in leases.ts); the calls
      // that waited for the same lease write share one read begun after it.
      let current = writtenAt === undefined ? found : await this.directory.lookupFresh(identity.orgId, meta.name, writtenAt);
      if (!current) throw new GrpcError(Status.NOT_FOUND, `satellite "${meta.name}" not found in organization ${meta.org}`);
      refuseUnusable(current);
      refuseOtherSatellite(current, identity);
      if (current.state === "awake" && current.upstream) return new Hold(this.leases, current, identity, current.upstream, 0);
      const deadlineAt = meta.timeoutMs !== undefined ? startedAt + meta.timeoutMs : undefined;
      current = await this.waker.wait(current, identity.actor, deadlineAt, caller);
      this.directory.remember(current);
      return new Hold(this.leases, current, identity, current.upstream!, Date.now() - startedAt);
    } catch (err) {
      // No Hold was handed out: give the lease's count back here, once.
      this.leases.close(found.id);
      throw err;
    }
  }
}

/** A certificate's satellite is the one it names by id: a later namesake is not it. */
function refuseOtherSatellite(s: SatelliteRecord, identity: Credential): void {
  if (identity.satelliteId !== undefined && s.id !== identity.satelliteId) {
    throw new GrpcError(Status.FAILED_PRECONDITION, `the satellite this client certificate was issued for was deleted`);
  }
}

function refuseUnusable(s: SatelliteRecord): void {
  if (s.deleted) throw new GrpcError(Status.FAILED_PRECONDITION, `satellite "${s.name}" is deleted`);
  if (s.state === "failed") {
    throw new GrpcError(Status.FAILED_PRECONDITION, `satellite "${s.name}" failed: ${s.failureReason ?? "unknown reason"}; retry it from the dashboard`);
  }
}
