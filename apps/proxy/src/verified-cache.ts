// What a credential check answered (a token's identity, a client certificate's record, or the
// refusal), trusted for a short while so steady traffic does not query per call, yet a revoked
// credential stops working within `ttlMs` (at once where its revocation is announced: `forget`).
// Concurrent checks of one credential share one query. Keys are the credentials themselves (a
// token, a certificate's fingerprint): they live only in this process's memory.
import { RecentUses } from "@satellites/tokens";
import { GrpcError, Status } from "./grpc.ts";

interface Entry<A> {
  /** Made once when the answer is stored, so the per-call read allocates nothing. */
  hit: { readonly answer: A };
  until: number;
  pending?: Promise<A>;
}

const MAX_ENTRIES = 10_000;
const SWEEP_TO = (MAX_ENTRIES * 3) / 4;

export class VerifiedCache<A> {
  private readonly entries = new Map<string, Entry<A>>();
  /** Bumped by `forget`: a check that began before a revocation must not cache what it read. */
  private generation = 0;

  constructor(
    private readonly ttlMs: number,
    /** What a caller is told when the check itself fails (the database is away): UNAVAILABLE, never cached. */
    private readonly unavailable: string,
  ) {}

  /** A settled answer younger than the TTL, as `{ answer }`; undefined when there is none. */
  fresh(key: string, now = Date.now()): { readonly answer: A } | undefined {
    const e = this.entries.get(key);
    return e && !e.pending && e.until > now ? e.hit : undefined;
  }

  /** Runs `check` for `key`, or joins the one already running; `placeholder` stands in while it runs. */
  check(key: string, check: () => Promise<A>, placeholder: A): Promise<A> {
    const existing = this.entries.get(key);
    if (existing?.pending) return existing.pending;
    const began = this.generation;
    const pending = check().then(
      (answer) => {
        if (this.generation !== began) {
          this.entries.delete(key);
          return answer;
        }
        this.entries.set(key, { hit: { answer }, until: Date.now() + this.ttlMs });
        if (this.entries.size > MAX_ENTRIES) this.sweep();
        return answer;
      },
      (err: unknown) => {
        this.entries.delete(key);
        throw new GrpcError(Status.UNAVAILABLE, this.unavailable, { cause: err });
      },
    );
    this.entries.set(key, { hit: { answer: placeholder }, until: 0, pending });
    return pending;
  }

  /** Answers and checks held (bounded by MAX_ENTRIES). */
  get size(): number {
    return this.entries.size;
  }

  /** Drops every answer `match` picks (a credential just revoked): its next call is checked again. */
  forget(match: (answer: A) => boolean): void {
    this.generation++;
    for (const [k, v] of this.entries) if (!v.pending && match(v.hit.answer)) this.entries.delete(k);
  }

  private sweep(): void {
    const now = Date.now();
    for (const [k, v] of this.entries) if (!v.pending && v.until <= now) this.entries.delete(k);
    // Still full (a flood of distinct credentials within the TTL): the oldest answers go, down
    // to three quarters, so the next sweep is thousands of insertions away. A dropped answer
    // only costs its credential one more check.
    for (const [k, v] of this.entries) {
      if (this.entries.size <= SWEEP_TO) break;
      if (!v.pending) this.entries.delete(k);
    }
  }
}

/**
 * "Last used" for the dashboard, the rule of RecentUses, checked synchronously: a call whose
 * credential was written lately costs no promise. A failed write waits out the minute (a
 * database outage does not become a write attempt per call).
 */
export class UsageTouches {
  private readonly recent = new RecentUses();

  constructor(
    private readonly write: (id: string) => Promise<unknown>,
    private readonly onError: (err: unknown) => void,
  ) {}

  touch(id: string, now = Date.now()): void {
    if (this.recent.claim(id, now)) this.write(id).catch(this.onError);
  }
}
