// What happens to each stream the front door hands over: is it gRPC, its metadata, the token,
// the director's route (maybe after a wake), a stream on the satellite's session — or the
// proxy's own answer. Steady traffic (all of it cached) takes a path with no awaits.
import type http2 from "node:http2";
import type { Logger } from "pino";
import { AuthFailure, type Authenticator } from "./auth.ts";
import type { ClientConnection } from "./client-connection.ts";
import type { Director, Route } from "./director.ts";
import { Call, type ForwardHooks, type Headers, headersFromRaw, sensitiveOf } from "./forward.ts";
import { formatGrpcTimeout, GrpcError, Status, statusName } from "./grpc.ts";
import { type CallMetadata, readCallMetadata } from "./metadata.ts";
import type { ProxyMetrics } from "./metrics.ts";
import type { OpenCalls } from "./open-calls.ts";
import type { MemoryGuard } from "./overload.ts";
import type { Slot, UpstreamPool } from "./upstream-pool.ts";

export interface CallDeps {
  auth: Authenticator;
  director: Director;
  pool: UpstreamPool;
  metrics: ProxyMetrics;
  openCalls: OpenCalls;
  guard: MemoryGuard;
  log: Logger;
  /** The satellite's address refused or dropped a connection: its machine may have died. */
  onUpstreamUnreachable?: (satelliteId: string) => void;
}

/** Counts a call once, whatever way it ends. */
class CallRecord {
  private counted = false;
  constructor(private readonly counter: CallCounter) {
    counter.open++;
  }
  done(outcome: number | "reset"): void {
    if (this.counted) return;
    this.counted = true;
    this.counter.open--;
    this.counter.metrics.call(outcome);
  }
}

interface CallCounter {
  open: number;
  metrics: ProxyMetrics;
}

/** One forwarded call's bookkeeping: the hooks the Call reports to. */
class Forwarding implements ForwardHooks {
  constructor(
    private readonly deps: CallDeps,
    private readonly route: Route,
    private readonly slot: Slot,
    private readonly path: string | undefined,
    private readonly startedAt: number,
    private readonly record: CallRecord,
  ) {}
  sent(n: number): void {
    this.deps.metrics.bytesUp += n;
  }
  received(n: number): void {
    this.deps.metrics.bytesDown += n;
  }
  done(outcome: number | "reset"): void {
    this.slot.done();
    this.route.release();
    this.record.done(outcome);
    const log = this.deps.log;
    if (log.isLevelEnabled("debug")) {
      const s = this.route.satellite;
      log.debug({ satellite: s.name, satelliteId: s.id, org: s.orgId, path: this.path, outcome: outcome === "reset" ? "reset" : statusName(outcome), ms: Date.now() - this.startedAt }, "call finished");
    }
  }
}

/** The headers that go upstream: the client's, minus ours, with what remains of its deadline. */
function upstreamHeaders(meta: CallMetadata, sensitive: string[] | undefined, startedAt: number): Headers {
  if (meta.timeoutMs !== undefined) meta.forward.push("grpc-timeout", formatGrpcTimeout(meta.timeoutMs - (Date.now() - startedAt)));
  return headersFromRaw(meta.forward, sensitive);
}

function isGrpc(headers: http2.IncomingHttpHeaders): boolean {
  const contentType = headers["content-type"];
  return headers[":method"] === "POST" && typeof contentType === "string" && contentType.startsWith("application/grpc");
}

export class CallHandler {
  private readonly counter: CallCounter;

  constructor(private readonly deps: CallDeps) {
    this.counter = { open: 0, metrics: deps.metrics };
  }

  /** Calls not yet over: waiting for their route, or forwarded. */
  get open(): number {
    return this.counter.open;
  }

  readonly onStream = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, raw: string[], conn: ClientConnection): void => {
    const startedAt = Date.now();
    const record = new CallRecord(this.counter);
    const call = new Call(stream, conn.countReset);
    conn.track(call);
    call.onOver = () => conn.untrack(call);

    if (!isGrpc(headers)) {
      // Not gRPC: the spec's answer is 415; there is no gRPC status to give.
      call.answerHttp(415, "this is a gRPC endpoint: send POST with content-type application/grpc");
      record.done(Status.INVALID_ARGUMENT);
      return;
    }
    if (this.deps.guard.overloaded) {
      this.refuse(call, new GrpcError(Status.RESOURCE_EXHAUSTED, "the proxy is overloaded; try again shortly"), { source: conn.source }, record);
      return;
    }
    let meta: CallMetadata;
    try {
      meta = readCallMetadata(raw);
    } catch (err) {
      this.refuse(call, err, { source: conn.source }, record);
      return;
    }
    const path = headers[":path"];
    const sensitive = sensitiveOf(headers);

    // Steady traffic: token, satellite, lease and session all known — no awaits at all.
    if (meta.timeoutMs === undefined || meta.timeoutMs > 0) {
      const identity = this.deps.auth.cached(meta.token);
      const route = identity && this.deps.director.tryRoute(meta, identity);
      if (route) {
        const slot = this.deps.pool.ready(route.satellite.id, route.upstream);
        if (slot) {
          this.forward(call, slot, route, identity.tokenId, upstreamHeaders(meta, sensitive, startedAt), path, startedAt, record);
          return;
        }
        route.release();
      }
    }
    void this.slowPath(call, path, meta, sensitive, conn.source, startedAt, record);
  };

  private forward(call: Call, slot: Slot, route: Route, tokenId: string, headers: Headers, path: string | undefined, startedAt: number, record: CallRecord): void {
    const over = call.onOver;
    call.forward(slot.session, headers, new Forwarding(this.deps, route, slot, path, startedAt, record));
    // The registry wraps the connection's own bookkeeping: both hear when the call is over.
    const leave = this.deps.openCalls.add({ tokenId, orgId: route.satellite.orgId, satelliteId: route.satellite.id, call });
    call.onOver = () => {
      over?.();
      leave();
    };
  }

  /** Everything that may wait: token check, lookup, lease write, wake, connecting upstream. */
  private async slowPath(call: Call, path: string | undefined, meta: CallMetadata, sensitive: string[] | undefined, source: string, startedAt: number, record: CallRecord): Promise<void> {
    let route: Route | undefined;
    let ctx: { satellite?: string; org?: string } = { satellite: meta.name, org: meta.org };
    try {
      const identity = await this.deps.auth.authenticate(meta.token, source, meta);
      // A client that reset meanwhile (rapid reset) costs no lookup, lease or wake.
      if (call.clientGone) {
        record.done("reset");
        return;
      }
      // A call held for a wake hears of its client going away through the call itself.
      route = await this.deps.director.route(meta, identity, startedAt, call);
      const { satellite } = route;
      ctx = { satellite: satellite.name, org: satellite.orgId };
      if (route.waitedMs > 0) this.deps.metrics.wakeWaited(route.waitedMs / 1000);
      if (meta.timeoutMs !== undefined && meta.timeoutMs - (Date.now() - startedAt) <= 0) {
        throw new GrpcError(Status.DEADLINE_EXCEEDED, `satellite "${satellite.name}" was still waking when the call's deadline passed`);
      }
      // Calls released by a wake find the session made on the announcement, usually ready.
      const slot =
        this.deps.pool.ready(satellite.id, route.upstream) ??
        (await this.deps.pool.connection(satellite.id, route.upstream).catch((err: unknown) => {
          this.deps.onUpstreamUnreachable?.(satellite.id);
          throw err;
        }));
      call.onClientGone = undefined;
      if (call.clientGone) {
        slot.done();
        route.release();
        record.done("reset");
        return;
      }
      const r = route;
      route = undefined;
      this.forward(call, slot, r, identity.tokenId, upstreamHeaders(meta, sensitive, startedAt), path, startedAt, record);
    } catch (err) {
      route?.release();
      call.onClientGone = undefined;
      this.refuse(call, err, { ...ctx, source }, record);
    }
  }

  private refuse(call: Call, err: unknown, ctx: Record<string, string | undefined>, record: CallRecord): void {
    const log = this.deps.log;
    if (call.clientGone) {
      record.done("reset");
      return;
    }
    if (err instanceof AuthFailure) {
      // Counted in the aggregate log (refusal-log.ts): a flood of guesses is not a flood of lines
      // (one per call only when debugging, like "call finished").
      log.debug({ ...ctx, code: statusName(err.code), reason: err.message }, "call refused");
      call.answer(err.code, err.message);
      record.done(err.code);
      return;
    }
    if (err instanceof GrpcError) {
      const msg = err.code === Status.UNAUTHENTICATED || err.code === Status.RESOURCE_EXHAUSTED || err.code === Status.INVALID_ARGUMENT ? "call refused" : "call not forwarded";
      const cause = err.cause instanceof Error ? err.cause.message : undefined;
      log.info({ ...ctx, code: statusName(err.code), reason: err.message, ...(cause ? { cause } : {}) }, msg);
      call.answer(err.code, err.message);
      record.done(err.code);
      return;
    }
    // Internal failures (database, Redis, connecting upstream) are logged in full, answered briefly.
    const reason = err instanceof Error ? err.message : String(err);
    log.error({ ...ctx, err: reason }, "call failed inside the proxy");
    call.answer(Status.UNAVAILABLE, "the satellite cannot be reached right now; try again");
    record.done(Status.UNAVAILABLE);
  }
}
