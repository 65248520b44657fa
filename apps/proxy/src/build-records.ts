// What the proxy saw of each build and call, written to Postgres in batches by a timer — never
// on a call's path (pino's model: the call only updates memory; the writer catches up). A
// BuildKit Control/Solve is a build: one row, written when it starts and re-written while it
// runs (bytes so far, and `seenAt` saying this replica still forwards it) and when it ends.
// Every other call is counted per minute, satellite, method, actor and client. A crash loses at
// most one interval; a database outage keeps what is pending (bounded) until the next flush.
import { randomUUID } from "node:crypto";
import type { Db } from "@satellites/db";
import { Status } from "./grpc.ts";
import type { BuildRef } from "./build-ref.ts";
import type { StepSignals } from "./out-of-space.ts";

export const SOLVE_PATH = "/moby.buildkit.v1.Control/Solve";

export interface CallFacts {
  orgId: string;
  satelliteId: string;
  /** "token:<id>", "user:<id>" or "certificate:<id>". */
  actor: string;
  actorLabel?: string | undefined;
  client: string;
  path: string;
  sessionId?: string | undefined;
  /** A build's: how long it (or its client's first calls) waited for the satellite to wake. */
  wakeWaitMs?: number | undefined;
}

/** The BuildKit session of a client connection: its tally once it is forwarded. */
export interface SessionHolder {
  readonly id?: string | undefined;
  readonly tally: CallTally | undefined;
}

/** One call's tally, kept by the forwarder; `end` once. */
export interface CallTally {
  bytesUp: number;
  bytesDown: number;
  /** `message`: the status message the client got, percent-encoded as it travelled. */
  end(outcome: number | "reset", message?: string): void;
}

interface BuildRow {
  id: string;
  facts: CallFacts;
  startedAt: number;
  endedAt: number | undefined;
  grpcCode: number | undefined;
  /** Why a failed build failed, as its client was told (see `failureMessage`). */
  error: string | undefined;
  /** It failed after a step's output on its connection said the disk was full (see out-of-space.ts). */
  stepOutOfSpace: boolean;
  tally: BuildTally | undefined;
}

interface CallBucket {
  orgId: string;
  satelliteId: string;
  minute: number;
  method: string;
  actor: string;
  client: string;
  calls: number;
  failed: number;
  bytesUp: number;
  bytesDown: number;
  totalMs: number;
}

export interface RecorderOptions {
  /** How often pending records are written (and the most a crash loses). */
  intervalMs: number;
  /** Beyond this many ended builds or call buckets pending (the database away), the oldest go. */
  maxPending: number;
}

/** A tally that records nothing (recording off). */
class NoTally implements CallTally {
  bytesUp = 0;
  bytesDown = 0;
  end(): void {}
}

/**
 * A build's bytes: its Solve call's, plus what its BuildKit session carried while it ran (the
 * context upload and the exported result travel in the session's stream, not in Solve).
 */
class BuildTally implements CallTally {
  bytesUp = 0;
  bytesDown = 0;
  private session: CallTally | undefined;
  private sessionUpAtStart = 0;
  private sessionDownAtStart = 0;
  private sessionUp = 0;
  private sessionDown = 0;
  /** Its Solve answered; the end is settled a moment later (see `end`). */
  private pending: { endedAt: number; grpcCode: number; error: string | undefined; timer: NodeJS.Timeout } | undefined;
  constructor(
    private readonly recorder: BuildRecorder,
    private readonly row: BuildRow,
    /** Where the session's tally is (it may be forwarded a moment after the Solve). */
    private readonly holder: SessionHolder | undefined,
    /** What the steps' output on the build's connection said. */
    private readonly steps: StepSignals | undefined,
    /** The Solve's ref, read from its request: the Status call about it names the same. */
    private readonly build: BuildRef | undefined,
  ) {
    this.attach(true);
  }
  /** Bytes so far (frozen once the build's end is settled: `row.endedAt` is set then). */
  totals(): { up: number; down: number } {
    if (this.row.endedAt === undefined) this.sample();
    return { up: this.bytesUp + this.sessionUp, down: this.bytesDown + this.sessionDown };
  }
  private attach(atStart: boolean): void {
    if (this.session || !this.holder?.tally) return;
    this.session = this.holder.tally;
    this.row.facts.sessionId ??= this.holder.id;
    // Opened before the build: only what it carries from now on is the build's. Opened after
    // the Solve (buildctl opens both at once; either can reach the satellite first): all of it
    // is, however late it is first looked at.
    if (!atStart) return;
    this.sessionUpAtStart = this.session.bytesUp;
    this.sessionDownAtStart = this.session.bytesDown;
  }
  private sample(): void {
    this.attach(false);
    if (!this.session) return;
    this.sessionUp = this.session.bytesUp - this.sessionUpAtStart;
    this.sessionDown = this.session.bytesDown - this.sessionDownAtStart;
  }
  end(outcome: number | "reset", message?: string): void {
    if (this.row.endedAt !== undefined || this.pending) return;
    const endedAt = Date.now();
    const grpcCode = outcome === "reset" ? -1 : outcome;
    const error = grpcCode === 0 ? undefined : failureMessage(message);
    this.sample();
    if (!this.session) return this.settle(endedAt, grpcCode, error);
    // The tail of a local export travels in the session and can reach the proxy just after
    // Solve's answer (another connection to the satellite, or queued behind it): the session is
    // counted for a moment more, and only then is the build shown ended, with its whole bytes.
    const timer = setTimeout(() => this.settleNow(), SESSION_SETTLE_MS);
    timer.unref();
    this.pending = { endedAt, grpcCode, error, timer };
  }
  /** Settles an end still waiting for its session's last bytes (a graceful stop loses none). */
  settleNow(): void {
    const p = this.pending;
    if (!p) return;
    clearTimeout(p.timer);
    this.pending = undefined;
    this.settle(p.endedAt, p.grpcCode, p.error);
  }
  private settle(endedAt: number, grpcCode: number, error: string | undefined): void {
    this.sample();
    this.row.endedAt = endedAt;
    this.row.grpcCode = grpcCode;
    this.row.error = error;
    // Said about this build (by its ref; any build's, when a ref is not known) while it ran: an
    // earlier build's words on the same connection are not its, nor a build's run beside it.
    // Settled a moment after the Solve's answer when a session is open, which lets the last of
    // the step's output (another stream) arrive first.
    const outOfSpaceAt = this.steps?.stepOutOfSpaceAt(this.build?.ref);
    this.row.stepOutOfSpace = grpcCode > Status.CANCELLED && outOfSpaceAt !== undefined && outOfSpaceAt >= this.row.startedAt;
    this.recorder.ended(this.row);
  }
}

/** The most of a failure's message kept: BuildKit's messages name the failed step and its error in far less. */
export const FAILURE_MESSAGE_MAX = 1_000;

/**
 * A status message as the client read it: grpc-message is percent-encoded on the wire (gRPC's
 * HTTP/2 protocol doc), and one not validly encoded is kept as sent. Control characters other
 * than tabs and newlines are dropped, and the text is cut to FAILURE_MESSAGE_MAX characters.
 */
export function failureMessage(raw: string | undefined): string | undefined {
  if (!raw) return undefined;
  let text: string;
  try {
    text = decodeURIComponent(raw);
  } catch {
    text = raw;
  }
  // By code point, so a cut never leaves half a surrogate pair (nor NUL): Postgres refuses both
  // in jsonb, and the batch's one statement would fail with them.
  const chars = Array.from(text.trim()).filter((c) => c === "\t" || c === "\n" || (c >= " " && c !== "\u007f"));
  return chars.length ? chars.slice(0, FAILURE_MESSAGE_MAX).join("") : undefined;
}

/** How long a build's session is still counted after its Solve answered (see BuildTally.end). */
const SESSION_SETTLE_MS = 1_000;

class OtherCallTally implements CallTally {
  bytesUp = 0;
  bytesDown = 0;
  private ended = false;
  constructor(
    private readonly recorder: BuildRecorder,
    private readonly facts: CallFacts,
    private readonly startedAt: number,
  ) {}
  end(outcome: number | "reset"): void {
    if (this.ended) return;
    this.ended = true;
    this.recorder.counted(this.facts, this.startedAt, outcome, this);
  }
}

const NO_TALLY = new NoTally();

export class BuildRecorder {
  private readonly open = new Set<BuildRow>();
  private endedRows: BuildRow[] = [];
  private buckets = new Map<string, CallBucket>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  /** Records dropped because the database stayed away (logged on the next flush). */
  private dropped = 0;

  constructor(
    private readonly db: Db | undefined,
    private readonly replica: string,
    private readonly opts: RecorderOptions,
    private readonly onError: (err: unknown, dropped: number) => void,
  ) {
    if (db) {
      this.timer = setInterval(() => void this.flush(), opts.intervalMs);
      this.timer.unref();
    }
  }

  get enabled(): boolean {
    return this.db !== undefined;
  }

  /**
   * Called when a call is forwarded: the tally its bytes and its end go to. `session`: the
   * BuildKit session open on the same connection (a build's bytes include its session's);
   * `steps`: what the steps' output on that connection said; `build`: the Solve's ref, once read.
   */
  begin(facts: CallFacts, session?: SessionHolder, steps?: StepSignals, build?: BuildRef): CallTally {
    if (!this.db) return NO_TALLY;
    const startedAt = Date.now();
    if (facts.path !== SOLVE_PATH) return new OtherCallTally(this, facts, startedAt);
    const row: BuildRow = { id: randomUUID(), facts, startedAt, endedAt: undefined, grpcCode: undefined, error: undefined, stepOutOfSpace: false, tally: undefined };
    const tally = new BuildTally(this, row, session, steps, build);
    row.tally = tally;
    this.open.add(row);
    return tally;
  }

  /** @internal a build's call ended. */
  ended(row: BuildRow): void {
    this.open.delete(row);
    this.endedRows.push(row);
    if (this.endedRows.length > this.opts.maxPending) {
      this.endedRows.shift();
      this.dropped++;
    }
  }

  /** @internal another call ended: added to its minute's bucket. */
  counted(f: CallFacts, startedAt: number, outcome: number | "reset", t: CallTally): void {
    const minute = startedAt - (startedAt % 60_000);
    const method = methodOf(f.path);
    const key = `${f.satelliteId}\n${minute}\n${method}\n${f.actor}\n${f.client}`;
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size >= this.opts.maxPending) {
        this.dropped++;
        return;
      }
      b = { orgId: f.orgId, satelliteId: f.satelliteId, minute, method, actor: f.actor, client: f.client, calls: 0, failed: 0, bytesUp: 0, bytesDown: 0, totalMs: 0 };
      this.buckets.set(key, b);
    }
    b.calls++;
    if (outcome !== 0) b.failed++;
    b.bytesUp += t.bytesUp;
    b.bytesDown += t.bytesDown;
    b.totalMs += Date.now() - startedAt;
  }

  /** Writes what is pending now; one flush at a time (a slow database delays, never stacks). */
  flush(): Promise<void> {
    if (!this.db) return Promise.resolve();
    return (this.flushing ??= this.write(this.db).finally(() => (this.flushing = undefined)));
  }

  private async write(db: Db): Promise<void> {
    const now = Date.now();
    const ended = this.endedRows;
    const buckets = this.buckets;
    this.endedRows = [];
    this.buckets = new Map();
    const rows = [...ended, ...this.open];
    try {
      if (rows.length > 0) await writeBuilds(db, rows, this.replica, now);
      if (buckets.size > 0) await writeBuckets(db, [...buckets.values()]);
      if (this.dropped > 0) {
        this.onError(new Error("records were dropped while the database could not be written"), this.dropped);
        this.dropped = 0;
      }
    } catch (err) {
      // Kept for the next flush (the upserts are idempotent for builds; buckets were not written).
      this.endedRows = [...ended, ...this.endedRows].slice(-this.opts.maxPending);
      for (const [k, b] of buckets) {
        const later = this.buckets.get(k);
        if (!later) this.buckets.set(k, b);
        else {
          later.calls += b.calls;
          later.failed += b.failed;
          later.bytesUp += b.bytesUp;
          later.bytesDown += b.bytesDown;
          later.totalMs += b.totalMs;
        }
      }
      this.onError(err, 0);
    }
  }

  /** Stops the timer and writes what is pending (a graceful stop loses nothing). */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    for (const row of [...this.open]) row.tally?.settleNow();
    await this.flushing;
    await this.flush();
  }
}

function iso(ms: number | undefined): string | null {
  return ms === undefined ? null : new Date(ms).toISOString();
}

/** One statement per batch: every build row as JSON, upserted by id. */
async function writeBuilds(db: Db, rows: BuildRow[], replica: string, now: number): Promise<void> {
  const json = JSON.stringify(
    rows.map((r) => {
      const bytes = r.tally!.totals();
      return {
      id: r.id,
      orgId: r.facts.orgId,
      satelliteId: r.facts.satelliteId,
      actor: r.facts.actor,
      actorLabel: r.facts.actorLabel ?? null,
      client: r.facts.client,
      sessionId: r.facts.sessionId ?? null,
      wakeWaitMs: r.facts.wakeWaitMs || null,
      startedAt: iso(r.startedAt),
      endedAt: iso(r.endedAt),
      // A Solve held open for 25 days would pass int's range, and stop every record after it.
      durationMs: r.endedAt === undefined ? null : Math.min(r.endedAt - r.startedAt, INT_MAX),
      bytesUp: bytes.up,
      bytesDown: bytes.down,
      grpcCode: r.grpcCode ?? null,
      error: r.error ?? null,
      stepOutOfSpace: r.stepOutOfSpace,
      replica,
      seenAt: iso(now),
      };
    }),
  );
  await db.$executeRaw`
    INSERT INTO "build" ("id", "orgId", "satelliteId", "actor", "actorLabel", "client", "sessionId", "wakeWaitMs", "startedAt", "endedAt", "durationMs", "bytesUp", "bytesDown", "grpcCode", "error", "stepOutOfSpace", "replica", "seenAt")
    SELECT "id", "orgId", "satelliteId", "actor", "actorLabel", "client", "sessionId", "wakeWaitMs", "startedAt", "endedAt", "durationMs", "bytesUp", "bytesDown", "grpcCode", "error", "stepOutOfSpace", "replica", "seenAt"
    FROM jsonb_to_recordset(${json}::jsonb) AS x("id" text, "orgId" text, "satelliteId" text, "actor" text, "actorLabel" text, "client" text, "sessionId" text, "wakeWaitMs" int,
      "startedAt" timestamp(3), "endedAt" timestamp(3), "durationMs" int, "bytesUp" bigint, "bytesDown" bigint, "grpcCode" int, "error" text, "stepOutOfSpace" boolean, "replica" text, "seenAt" timestamp(3))
    ON CONFLICT ("id") DO UPDATE SET "sessionId" = COALESCE("build"."sessionId", EXCLUDED."sessionId"), "client" = EXCLUDED."client", "wakeWaitMs" = EXCLUDED."wakeWaitMs", "endedAt" = EXCLUDED."endedAt", "durationMs" = EXCLUDED."durationMs", "bytesUp" = EXCLUDED."bytesUp",
      "bytesDown" = EXCLUDED."bytesDown", "grpcCode" = EXCLUDED."grpcCode", "error" = EXCLUDED."error", "stepOutOfSpace" = EXCLUDED."stepOutOfSpace", "seenAt" = EXCLUDED."seenAt"`;
}

/** One statement per batch: the buckets added to what earlier batches (and replicas) wrote. */
async function writeBuckets(db: Db, buckets: CallBucket[]): Promise<void> {
  const json = JSON.stringify(buckets.map((b) => ({ ...b, minute: new Date(b.minute).toISOString() })));
  await db.$executeRaw`
    INSERT INTO "call_stat" ("orgId", "satelliteId", "minute", "method", "actor", "client", "calls", "failed", "bytesUp", "bytesDown", "totalMs")
    SELECT "orgId", "satelliteId", "minute", "method", "actor", "client", "calls", "failed", "bytesUp", "bytesDown", "totalMs"
    FROM jsonb_to_recordset(${json}::jsonb) AS x("orgId" text, "satelliteId" text, "minute" timestamp(3), "method" text, "actor" text, "client" text,
      "calls" int, "failed" int, "bytesUp" bigint, "bytesDown" bigint, "totalMs" bigint)
    ON CONFLICT ("satelliteId", "minute", "method", "actor", "client") DO UPDATE SET "calls" = "call_stat"."calls" + EXCLUDED."calls",
      "failed" = "call_stat"."failed" + EXCLUDED."failed", "bytesUp" = "call_stat"."bytesUp" + EXCLUDED."bytesUp",
      "bytesDown" = "call_stat"."bytesDown" + EXCLUDED."bytesDown", "totalMs" = "call_stat"."totalMs" + EXCLUDED."totalMs"`;
}

const INT_MAX = 2 ** 31 - 1;
/** Longer than any real service's method; an index entry holds 2,704 bytes at most. */
const METHOD_MAX = 256;

/**
 * The method a call is counted under: its path when it is one gRPC could route
 * (`/package.Service/Method`), else "(other)". Any token holder chooses the path, and a batch
 * holding one the database refuses (past an index entry's size) would be retried for good.
 */
export function methodOf(path: string): string {
  return path.length <= METHOD_MAX && /^\/[\w.]+\/\w+$/.test(path) ? path : "(other)";
}

/** The client program from the user-agent: "earthly 0.8.15", "buildx 0.20", "grpc-go 1.74.2" … */
export function clientOf(userAgent: string | undefined): string {
  if (!userAgent) return "unknown";
  const ua = userAgent.slice(0, 256);
  const known = /\b(earthly|earthbuild|buildx|buildctl|docker)[/ ]v?([0-9][\w.+-]{0,30})?/i.exec(ua);
  if (known) return `${known[1]!.toLowerCase()}${known[2] ? ` ${known[2]}` : ""}`;
  const first = /^([A-Za-z][\w.-]{0,40})(?:\/v?([0-9][\w.+-]{0,30}))?/.exec(ua);
  return first ? `${first[1]}${first[2] ? ` ${first[2]}` : ""}` : "other";
}
