// The Earthly CLI wakes its satellite through the cloud API's ReserveSatellite and only then dials
// BuildKit through the proxy: its build's Solve never waits, its reserve did. And the CLI (v0.8)
// names no client of its own on BuildKit calls (grpc-go's user agent): its reserve is what says
// the build is Earthly's. The Earthly API notes each reserve that answered OPERATIONAL, with how
// long it waited (0 when the satellite was awake); the first build of the next connection with
// the same actor and satellite takes it (one build per reserve, within a minute). The notes are
// in Redis, not in the replica's memory: behind a load balancer the reserve and the build are
// often answered by two replicas.
import type { Redis } from "ioredis";

/** How long after its reserve a build may still take its wait. */
const CLAIM_WITHIN_MS = 60_000;
/** Unclaimed reserves kept per actor and satellite (a CLI that reserves and never builds). */
const MAX_PENDING = 64;
/** A claim gives up after this long (Redis slow or away): the build is recorded as its user agent names it. */
const CLAIM_TIMEOUT_MS = 2_000;

export interface ReserveWait {
  /** "token:<id>", as the build's credential names it. */
  actor: string;
  satelliteId: string;
  waitedMs: number;
}

// Times are Redis's own (TIME), so replicas' clocks never decide what expired.
const NOW_MS = "local t = redis.call('TIME'); local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)";

/** KEYS[1] the list; ARGV: waited ms, window ms, max kept. Appends "<at>:<waited>". */
const NOTE = `${NOW_MS}
redis.call('RPUSH', KEYS[1], now .. ':' .. ARGV[1])
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[3]), -1)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`;

/** KEYS[1] the list; ARGV: window ms. Pops the oldest entry still within the window: its wait, or -1. */
const CLAIM = `${NOW_MS}
while true do
  local e = redis.call('LPOP', KEYS[1])
  if not e then return -1 end
  local sep = string.find(e, ':', 1, true)
  if now - tonumber(string.sub(e, 1, sep - 1)) <= tonumber(ARGV[1]) then return tonumber(string.sub(e, sep + 1)) end
end`;

type ReserveCommands = Redis & {
  satellitesNoteReserve(key: string, waitedMs: string, windowMs: string, max: string): Promise<number>;
  satellitesClaimReserve(key: string, windowMs: string): Promise<number>;
};

export class ReserveWaits {
  private readonly redis: ReserveCommands;

  constructor(
    redis: Redis,
    private readonly opts: { windowMs?: number; onError?: (err: Error) => void } = {},
  ) {
    this.redis = redis as ReserveCommands;
    // EVALSHA: the scripts' bodies go to Redis once per connection.
    if (typeof this.redis.satellitesNoteReserve !== "function") redis.defineCommand("satellitesNoteReserve", { numberOfKeys: 1, lua: NOTE });
    if (typeof this.redis.satellitesClaimReserve !== "function") redis.defineCommand("satellitesClaimReserve", { numberOfKeys: 1, lua: CLAIM });
  }

  private get windowMs(): string {
    return String(this.opts.windowMs ?? CLAIM_WITHIN_MS);
  }

  /**
   * Notes a reserve that answered OPERATIONAL; resolves once it is stored (while Redis is away,
   * once it is back). Never rejects: a lost note only loses a build's label and wait.
   */
  note(w: ReserveWait): Promise<void> {
    return this.redis.satellitesNoteReserve(keyOf(w.actor, w.satelliteId), String(Math.max(0, Math.round(w.waitedMs))), this.windowMs, String(MAX_PENDING)).then(
      () => undefined,
      (err: Error) => this.opts.onError?.(err),
    );
  }

  /** The oldest unclaimed recent reserve by `actor` for the satellite, taken (by one replica only): its wait; undefined if none. */
  async claim(actor: string, satelliteId: string): Promise<number | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<number>((resolve) => {
      timer = setTimeout(() => resolve(-1), CLAIM_TIMEOUT_MS);
    });
    try {
      const waited = await Promise.race([this.redis.satellitesClaimReserve(keyOf(actor, satelliteId), this.windowMs), late]);
      return waited >= 0 ? waited : undefined;
    } catch (err) {
      this.opts.onError?.(err as Error);
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }
}

function keyOf(actor: string, satelliteId: string): string {
  return `satellites:earthly-reserves:${satelliteId}:${actor}`;
}

/** A build that follows an Earthly reserve, named by its user agent as bare grpc-go (or not at all): the Earthly CLI's. */
export function clientAfterReserve(client: string): string {
  return /^(grpc-go\b|unknown$|other$)/.test(client) ? "earthly" : client;
}
