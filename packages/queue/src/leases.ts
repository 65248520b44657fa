// Active-stream leases: the contract between proxy replicas (writers) and the idle scan
// (reader). A satellite never sleeps while any replica holds a live lease on it.
//
// One sorted set per satellite; member = proxy replica id, score = expiry in ms of Redis's own
// clock (TIME inside the script), so replicas with skewed clocks still agree. A replica
// refreshes its lease every LEASE_REFRESH_MS while it has open streams to the satellite and
// for a short linger after the last one closes; a crashed replica's lease lapses after
// LEASE_TTL_MS. Protocol for a replica whose lease was not held: write the lease FIRST, then
// read the satellite's state fresh from Postgres; the sleeper moves awake→stopping FIRST, then
// checks leases right before the provider stop call. Either the sleeper sees the lease (and
// goes back to awake) or the proxy sees `stopping` (and waits for the wake that follows).
import type { Redis } from "ioredis";

export const LEASE_TTL_MS = 15_000;
export const LEASE_REFRESH_MS = 5_000;
/**
 * A replica writes that its last open call ended this long after it, unless another call opens
 * meanwhile: calls one after another then write nothing (at one call in flight every call was
 * the last: two lease writes per call, a Redis round trip in front of each forwarded request).
 */
export const STREAM_SETTLE_MS = 50;
/**
 * So a sleeper counts a call as open only if the lease says so for this long: a call that ended
 * is reported within STREAM_SETTLE_MS (the rest is room for a busy replica and the write).
 */
export const STREAM_OPEN_CONFIRM_MS = 10 * STREAM_SETTLE_MS;

export function leaseKey(satelliteId: string): string {
  return `satellites:leases:${satelliteId}`;
}

/**
 * The replicas among the lease holders that have a call open right now, as opposed to a lease
 * lingering after the last call closed: a manual sleep waits out a linger, never a call.
 */
export function streamsKey(satelliteId: string): string {
  return `satellites:streams:${satelliteId}`;
}

const HOLD = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
if ARGV[3] == '1' then
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[1])
  redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[2]) * 2)
else
  redis.call('ZREM', KEYS[2], ARGV[1])
end
return now`;

const LIVE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZCARD', KEYS[1])`;

/**
 * Take or refresh this replica's lease on a satellite. `open`: whether it has a call open now
 * (false while the lease lingers after the last one).
 */
export async function holdLease(redis: Redis, satelliteId: string, replicaId: string, ttlMs = LEASE_TTL_MS, open = true): Promise<void> {
  await leaseCommands(redis).satellitesHoldLease(leaseKey(satelliteId), streamsKey(satelliteId), replicaId, String(ttlMs), open ? "1" : "0");
}

type LeaseCommands = Redis & {
  satellitesHoldLease(lease: string, streams: string, replicaId: string, ttlMs: string, open: string): Promise<number>;
};

/**
 * The lease script as an ioredis command: sent as EVALSHA (the script's body goes to Redis once
 * per connection, not with every call's lease write), with ioredis's fallback to EVAL when the
 * server's script cache was flushed.
 */
function leaseCommands(redis: Redis): LeaseCommands {
  const r = redis as LeaseCommands;
  if (typeof r.satellitesHoldLease !== "function") redis.defineCommand("satellitesHoldLease", { numberOfKeys: 2, lua: HOLD });
  return r;
}

export async function releaseLease(redis: Redis, satelliteId: string, replicaId: string): Promise<void> {
  await redis.multi().zrem(leaseKey(satelliteId), replicaId).zrem(streamsKey(satelliteId), replicaId).exec();
}

/** Number of replicas with a call open on the satellite (live leases that are not lingering). */
export async function liveStreams(redis: Redis, satelliteId: string): Promise<number> {
  return Number(await redis.eval(LIVE, 1, streamsKey(satelliteId)));
}

/** Number of replicas holding a live lease (expired ones are dropped on the way). */
export async function liveLeases(redis: Redis, satelliteId: string): Promise<number> {
  return Number(await redis.eval(LIVE, 1, leaseKey(satelliteId)));
}

/** For many satellites at once (idle scan): ids with at least one live lease. */
export async function withLiveLeases(redis: Redis, satelliteIds: readonly string[]): Promise<Set<string>> {
  if (satelliteIds.length === 0) return new Set();
  const pipeline = redis.pipeline();
  for (const id of satelliteIds) pipeline.eval(LIVE, 1, leaseKey(id));
  const results = (await pipeline.exec()) ?? [];
  const live = new Set<string>();
  results.forEach(([err, count], i) => {
    if (err) throw err;
    if (Number(count) > 0) live.add(satelliteIds[i]!);
  });
  return live;
}
