// What happens to each stream the front door hands over: is it gRPC, its metadata, the token
// (or the connection's client certificate), the director's route (maybe after a wake), a stream
// on the satellite's session — or the proxy's own answer. Steady traffic (all of it cached)
// takes a path with no awaits.
import type http2 from "node:http2";
import type { Logger } from "pino";
import { AuthFailure, type Authenticator } from "./auth.ts";
import type { CertificateAuthenticator } from "./certificate-auth.ts";
import type { ClientConnection } from "./client-connection.ts";
import { type BuildRecorder, type CallFacts, type CallTally, clientOf, type SessionHolder, SOLVE_PATH } from "./build-records.ts";
import { certificateCredential, type Credential, tokenCredential } from "./credential.ts";
import type { Director, Route } from "./director.ts";
import { Call, type ForwardHooks, type Headers, headersFromRaw, sensitiveOf } from "./forward.ts";
import { formatGrpcTimeout, GrpcError, Status, statusName } from "./grpc.ts";
import { type CallMetadata, readCallMetadata, readCertificateCall } from "./metadata.ts";
import type { ProxyMetrics } from "./metrics.ts";
import type { OpenCalls } from "./open-calls.ts";
import { BuildRef } from "./build-ref.ts";
import { OutOfSpaceScan, STATUS_PATH } from "./out-of-space.ts";
import type { MemoryGuard } from "./overload.ts";
import { clientAfterReserve, type ReserveWaits } from "./reserve-waits.ts";
import type { Slot, UpstreamPool } from "./upstream-pool.ts";

export interface CallDeps {
  auth: Authenticator;
  certs: CertificateAuthenticator;
  director: Director;
  pool: UpstreamPool;
  metrics: ProxyMetrics;
  openCalls: OpenCalls;
  guard: MemoryGuard;
  log: Logger;
  /** Where builds and calls are recorded (batched, off the call's path). */
  recorder: BuildRecorder;
  /** The satellite's address refused or dropped a connection: its machine may have died. */
  onUpstreamUnreachable?: (satelliteId: string) => void;
  /** Waits the Earthly API's reserves noted, for the builds that follow them. */
  reserveWaits?: ReserveWaits | undefined;
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
    private readonly tally: CallTally,
    /** A Status call's: reads its answer for a step out of disk. */
    private readonly outOfSpace: OutOfSpaceScan | undefined,
    /** A Solve's or a Status call's: reads the build's ref from its request. */
    private readonly build: BuildRef | undefined,
  ) {}
  sent(chunk: Buffer): void {
    this.deps.metrics.bytesUp += chunk.length;
    this.tally.bytesUp += chunk.length;
    this.build?.feed(chunk);
  }
  received(chunk: Buffer): void {
    this.deps.metrics.bytesDown += chunk.length;
    this.tally.bytesDown += chunk.length;
    this.outOfSpace?.scan(chunk);
  }
  resetUpstream(): void {
    this.slot.resetSent();
  }
  done(outcome: number | "reset", message: string | undefined): void {
    this.tally.end(outcome, message);
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

/** Who sent a call, as the build records show it. */
interface Origin {
  client: string;
  conn: ClientConnection;
}

const SESSION_PATH = "/moby.buildkit.v1.Control/Session";
const SESSION_UUID = "x-docker-expose-session-uuid";
const MAX_CLIENTS_REMEMBERED = 1_000;

function isGrpc(headers: http2.IncomingHttpHeaders): boolean {
  const contentType = headers["content-type"];
  return headers[":method"] === "POST" && typeof contentType === "string" && contentType.startsWith("application/grpc");
}

/**
 * One more event-loop turn. A stream whose client broke flow control in the read that opened it
 * (DATA beyond its window) is reset by nghttp2 when the proxy next writes, after the check phase
 * that began it: without this turn the proxy looked up, leased and waited on a satellite for 99
 * of 100 such streams in the attack suite (15 with it).
 */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class CallHandler {
  private readonly counter: CallCounter;
  /** user-agent → client label: parsed once per distinct agent, not per call. */
  private readonly clients = new Map<string, string>();

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
    // Nothing is done for a stream until the rest of what its connection sent in the same read
    // has been processed: a RST_STREAM right behind the HEADERS (rapid reset, CVE-2023-44487),
    // or DATA beyond its window that node:http2 answers with one, then costs no lookup, lease,
    // wake or satellite stream: only this check. (node:http2 emits 'stream' in the middle of
    // parsing a read; the check phase comes after it.) The client's bytes wait unread meanwhile.
    setImmediate(this.begin, headers, raw, conn, call, record, startedAt);
  };

  private readonly begin = (headers: http2.IncomingHttpHeaders, raw: string[], conn: ClientConnection, call: Call, record: CallRecord, startedAt: number): void => {
    if (call.clientGone) {
      record.done("reset");
      return;
    }
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
    const path = headers[":path"];
    const sensitive = sensitiveOf(headers);
    const origin = this.originOf(headers, path, conn);
    // A connection with a client certificate: the certificate alone decides who and where.
    if (conn.peer.kind !== "none") return this.onCertificateStream(call, raw, path, sensitive, conn, startedAt, record, origin);
    let meta: CallMetadata;
    try {
      meta = readCallMetadata(raw);
    } catch (err) {
      if (err instanceof GrpcError && err.code === Status.UNAUTHENTICATED) {
        void this.deps.auth.unreadable(conn.source, err.message).then((failure) => this.refuse(call, failure, { source: conn.source }, record));
      } else this.refuse(call, err, { source: conn.source }, record);
      return;
    }

    // Steady traffic: token, satellite, lease and session all known — no awaits at all.
    const token = meta.timeoutMs === undefined || meta.timeoutMs > 0 ? this.deps.auth.cached(meta.token) : undefined;
    if (token && this.fastPath(call, meta, tokenCredential(token), sensitive, path, startedAt, record, origin)) return;
    const authenticate = async () => ({ identity: tokenCredential(await this.deps.auth.authenticate(meta.token, conn.source, meta)), meta });
    void this.slowPath(call, path, { satellite: meta.name, org: meta.org }, authenticate, sensitive, conn.source, startedAt, record, origin);
  };

  private onCertificateStream(call: Call, raw: string[], path: string | undefined, sensitive: string[] | undefined, conn: ClientConnection, startedAt: number, record: CallRecord, origin: Origin): void {
    const cert = this.deps.certs.cached(conn.peer);
    if (cert) {
      let meta: CallMetadata;
      try {
        meta = readCertificateCall(raw, { orgId: cert.orgId, name: cert.satelliteName });
      } catch (err) {
        this.refuse(call, err, { source: conn.source }, record);
        return;
      }
      const identity = certificateCredential(cert);
      if ((meta.timeoutMs === undefined || meta.timeoutMs > 0) && this.fastPath(call, meta, identity, sensitive, path, startedAt, record, origin)) return;
      void this.slowPath(call, path, { satellite: meta.name, org: meta.org }, async () => ({ identity, meta }), sensitive, conn.source, startedAt, record, origin);
      return;
    }
    // The satellite is known once the certificate is.
    const authenticate = async () => {
      const c = await this.deps.certs.authenticate(conn.peer, conn.source);
      return { identity: certificateCredential(c), meta: readCertificateCall(raw, { orgId: c.orgId, name: c.satelliteName }) };
    };
    const claim = conn.peer.kind === "valid" ? { org: conn.peer.subject.orgId } : {};
    void this.slowPath(call, path, claim, authenticate, sensitive, conn.source, startedAt, record, origin);
  }

  /** Forwards at once if everything is cached and ready; false means "take the slow path". */
  private fastPath(call: Call, meta: CallMetadata, identity: Credential, sensitive: string[] | undefined, path: string | undefined, startedAt: number, record: CallRecord, origin: Origin): boolean {
    const route = this.deps.director.tryRoute(meta, identity);
    if (!route) return false;
    const slot = this.deps.pool.ready(route.satellite.id, route.upstream);
    if (!slot) {
      route.release();
      return false;
    }
    this.forward(call, slot, route, upstreamHeaders(meta, sensitive, startedAt), path, startedAt, record, origin);
    return true;
  }

  private originOf(headers: http2.IncomingHttpHeaders, path: string | undefined, conn: ClientConnection): Origin {
    const ua = headers["user-agent"] ?? "";
    let client = this.clients.get(ua);
    if (client === undefined) {
      client = clientOf(ua);
      if (this.clients.size >= MAX_CLIENTS_REMEMBERED) this.clients.clear();
      this.clients.set(ua, client);
    }
    if (path === SESSION_PATH) {
      const uuid = headers[SESSION_UUID];
      // Only a plausible id is kept: it is shown to the org's members, nothing else reads it.
      conn.buildkitSession = { id: typeof uuid === "string" && /^[\w-]{1,64}$/.test(uuid) ? uuid : undefined, tally: undefined };
    }
    return { client, conn };
  }

  private forward(call: Call, slot: Slot, route: Route, headers: Headers, path: string | undefined, startedAt: number, record: CallRecord, origin: Origin): void {
    const over = call.onOver;
    const s = route.satellite;
    const solve = path === SOLVE_PATH;
    const session = solve ? sessionOf(origin.conn) : undefined;
    const facts: CallFacts = { orgId: s.orgId, satelliteId: s.id, actor: route.credential.actor, client: origin.client, path: path ?? "", sessionId: session?.id };
    if (solve) {
      const wait = origin.conn.wakeWaitFor(route.waitedMs);
      facts.wakeWaitMs = wait.ms;
      const reserves = this.deps.reserveWaits;
      // Off the call's path: Redis answers within a moment, and the recorder re-writes a running
      // build's client and wait, so what the claim finds lands even after the record's first write.
      if (reserves)
        void origin.conn.reserveOf(() => reserves.claim(route.credential.actor, s.id)).then((reserved) => {
          if (reserved === undefined) return;
          facts.client = clientAfterReserve(facts.client);
          if (wait.takesReserve) facts.wakeWaitMs = reserved;
        });
    }
    const recording = this.deps.recorder.enabled;
    const status = recording && path === STATUS_PATH;
    const build = recording && (solve || status) ? new BuildRef() : undefined;
    const tally = this.deps.recorder.begin(facts, session, origin.conn.steps, build);
    if (path === SESSION_PATH && origin.conn.buildkitSession) origin.conn.buildkitSession.tally = tally;
    const outOfSpace = status ? new OutOfSpaceScan(origin.conn.steps, build) : undefined;
    const forwarding = new Forwarding(this.deps, route, slot, path, startedAt, record, tally, outOfSpace, build);
    // Registered before anything is sent: a credential revoked while the call waited ends it
    // here (its hooks set first, so the lease, the upstream slot and the record are given back),
    // and a call refused on its way out still leaves. The registry wraps the connection's own
    // bookkeeping: both hear when the call is over.
    call.hooks = forwarding;
    const { tokenId, certificateId, expiresAt } = route.credential;
    const leave = this.deps.openCalls.add({ tokenId, certificateId, expiresAt, orgId: route.satellite.orgId, satelliteId: route.satellite.id, call });
    call.onOver = () => {
      over?.();
      leave();
    };
    if (call.over) return;
    call.forward(slot.session, headers, forwarding);
  }

  /**
   * Everything that may wait: token or certificate check (which gives the call's metadata: a
   * certificate's names the satellite), lookup, lease write, wake, connecting upstream.
   */
  private async slowPath(
    call: Call,
    path: string | undefined,
    claim: { satellite?: string; org?: string },
    authenticate: () => Promise<{ identity: Credential; meta: CallMetadata }>,
    sensitive: string[] | undefined,
    source: string,
    startedAt: number,
    record: CallRecord,
    origin: Origin,
  ): Promise<void> {
    let route: Route | undefined;
    let ctx = claim;
    try {
      const { identity, meta } = await authenticate();
      await nextTurn();
      // A client that reset meanwhile (rapid reset) costs no lookup, lease or wake.
      if (call.clientGone) {
        record.done("reset");
        return;
      }
      // A call held for a wake hears of its client going away through the call itself.
      route = await this.deps.director.route(meta, identity, startedAt, call);
      const { satellite } = route;
      ctx = { satellite: satellite.name, org: satellite.orgId };
      if (route.waitedMs > 0) {
        this.deps.metrics.wakeWaited(route.waitedMs / 1000);
        origin.conn.noteWakeWait(route.waitedMs);
      }
      if (meta.timeoutMs !== undefined && meta.timeoutMs - (Date.now() - startedAt) <= 0) {
        throw new GrpcError(Status.DEADLINE_EXCEEDED, `satellite "${satellite.name}" was still waking when the call's deadline passed`);
      }
      // Calls released by a wake find the session made on the announcement, usually ready.
      const slot =
        this.deps.pool.ready(satellite.id, route.upstream) ??
        (await this.deps.pool.connection(satellite.id, route.upstream, satellite.version).catch((err: unknown) => {
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
      this.forward(call, slot, r, upstreamHeaders(meta, sensitive, startedAt), path, startedAt, record, origin);
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
      // A malformed request is its sender's to read in the answer; a line each would let
      // anyone who connects fill the log.
      log[err.code === Status.INVALID_ARGUMENT ? "debug" : "info"]({ ...ctx, code: statusName(err.code), reason: err.message, ...(cause ? { cause } : {}) }, msg);
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

/** The connection's BuildKit session as it is when asked: a client may open it just after the Solve. */
function sessionOf(conn: ClientConnection): SessionHolder {
  return {
    get id() {
      return conn.buildkitSession?.id;
    },
    get tally() {
      return conn.buildkitSession?.tally;
    },
  };
}
