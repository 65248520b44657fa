// Rate limits shared by every web replica: counters live in Redis (rate-limiter-flexible), keyed
// on the client address (client-address.ts; an IPv6 one by its /64), or for what an
// organization does, on the organization. If Redis does not answer, each replica falls back to
// the same limits in its own memory rather than failing sign-in for everyone or letting guesses
// through unlimited.
import { addressKey, config } from "@satellites/config";
import { Redis } from "ioredis";
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from "rate-limiter-flexible";

interface RateLimit {
  points: number;
  durationSeconds: number;
  what: string;
  /** What is counted: the client's address (the default), an organization by its id, or a mail recipient's address. */
  per?: "organization" | "recipient";
}

/** Per kind of subject: the key it is counted under, and how a refusal names it. */
const SUBJECTS = {
  // An IPv6 client counts by its /64, as the proxy's per-address limits do.
  client: { key: addressKey, whose: "from your address" },
  organization: { key: (id: string) => id, whose: "from this organization" },
  recipient: { key: (email: string) => email.toLowerCase(), whose: "to this address" },
} as const;

export const RATE_LIMITS = {
  /** Password guesses: better-auth's POST /sign-in/email. */
  signIn: { points: 20, durationSeconds: 60, what: "sign-in attempts" },
  /** Accounts created: POST /sign-up/email. */
  signUp: { points: 20, durationSeconds: 60, what: "sign-ups" },
  /** Mail sent on request (password reset, verification): each one lands in someone's inbox. */
  authMail: { points: 10, durationSeconds: 600, what: "emails requested" },
  /** API calls authenticated with a bearer token (valid or not): slows token guessing and runaway scripts. */
  tokenUse: { points: 600, durationSeconds: 60, what: "API token requests" },
  /** Invitations sent (member.invite). */
  invite: { points: 30, durationSeconds: 60, what: "invitations" },
  /** Invitation mails an organization sends (points: INVITATION_MAILS_PER_DAY). */
  invitationMail: { points: 100, durationSeconds: 86_400, what: "invitation mails", per: "organization" },
  /** Invitation mails one address gets from all organizations (points: INVITATION_MAILS_PER_ADDRESS_PER_DAY). */
  invitationMailTo: { points: 5, durationSeconds: 86_400, what: "invitation mails", per: "recipient" },
  /** Verification and reset mails one address gets, whoever asks (points: AUTH_MAILS_PER_ADDRESS_PER_HOUR). */
  authMailTo: { points: 5, durationSeconds: 3_600, what: "verification and reset mails", per: "recipient" },
} satisfies Record<string, RateLimit>;

export type RateLimitKind = keyof typeof RATE_LIMITS;

export type RateDecision = { ok: true } | { ok: false; retryAfterSeconds: number; message: string };

export interface RateLimits {
  /** Spends one of `kind`'s points for `key`: a client's address, or an organization's id (`per: "organization"`). */
  consume(kind: RateLimitKind, key: string): Promise<RateDecision>;
}

/** Limits on `redis` under `prefix`; several instances with one prefix share one budget. `points` overrides a limit's default (the configured ones by default). */
export function createRateLimits(
  redis: Redis,
  prefix: string,
  points: Partial<Record<RateLimitKind, number>> = {
    invitationMail: config().INVITATION_MAILS_PER_DAY,
    invitationMailTo: config().INVITATION_MAILS_PER_ADDRESS_PER_DAY,
    authMailTo: config().AUTH_MAILS_PER_ADDRESS_PER_HOUR,
  },
): RateLimits {
  const limits = Object.fromEntries(Object.entries(RATE_LIMITS).map(([kind, l]) => [kind, { ...l, points: points[kind as RateLimitKind] ?? l.points }])) as Record<RateLimitKind, RateLimit>;
  const limiters = Object.fromEntries(
    Object.entries(limits).map(([kind, l]) => [
      kind,
      new RateLimiterRedis({
        storeClient: redis,
        keyPrefix: `${prefix}:rl:${kind}`,
        points: l.points,
        duration: l.durationSeconds,
        insuranceLimiter: new RateLimiterMemory({ points: l.points, duration: l.durationSeconds }),
      }),
    ]),
  ) as Record<RateLimitKind, RateLimiterRedis>;

  return {
    async consume(kind, key) {
      const l = limits[kind];
      const subject = SUBJECTS[l.per ?? "client"];
      try {
        await limiters[kind].consume(subject.key(key));
        return { ok: true };
      } catch (res) {
        if (!(res instanceof RateLimiterRes)) throw res;
        const retryAfterSeconds = Math.max(1, Math.ceil(res.msBeforeNext / 1000));
        return { ok: false, retryAfterSeconds, message: `Too many ${l.what} ${subject.whose} (at most ${l.points} per ${period(l.durationSeconds)}); try again in ${retryAfterSeconds} s` };
      }
    },
  };
}

const period = (seconds: number) => (seconds % 3600 === 0 ? `${seconds / 3600} h` : `${seconds} s`);

const g = globalThis as typeof globalThis & { __satellitesRateLimits?: RateLimits };

/** The process's limits (lazy: `next build` must not connect to Redis). */
export function rateLimits(): RateLimits {
  // Its own connection: a limiter must answer (or fall back) at once, not queue while Redis is
  // away nor wait on one that is connected but stalled (commandTimeout).
  g.__satellitesRateLimits ??= createRateLimits(
    new Redis(config().REDIS_URL, { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: false, commandTimeout: 500 }),
    config().QUEUE_PREFIX ?? "satellites",
  );
  return g.__satellitesRateLimits;
}

/** For tests: use these limits instead of the process's. */
export function provideRateLimits(limits: RateLimits): void {
  g.__satellitesRateLimits = limits;
}
