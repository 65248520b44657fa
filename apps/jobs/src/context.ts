// What every processor gets: the database, Redis, the provider, the queues, and settings.
import type { ChannelCredentials } from "@grpc/grpc-js";
import type { Config } from "@satellites/config";
import type { Db } from "@satellites/db";
import type { Provider } from "@satellites/provider";
import type { SatelliteQueues } from "@satellites/queue";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { HeldProbes } from "./held-probes.ts";
import type { MachineDeaths } from "./machine-deaths.ts";
import type { JobMetrics } from "./metrics.ts";

export interface JobsContext {
  db: Db;
  redis: Redis;
  provider: Provider;
  queues: SatelliteQueues;
  config: Config;
  log: Logger;
  metrics: JobMetrics;
  /** Longest wait for a satellite's gRPC health check after the provider says running. */
  healthTimeoutMs: number;
  /** Pauses between health checks while waiting (first, and longest after backing off). */
  healthPoll: { intervalMs: number; maxIntervalMs: number };
  /** The probe's client certificate for the mutual-TLS hop (main.ts always has one; absent: plaintext test satellites). */
  hopCredentials?: ChannelCredentials;
  /** Health channels kept open to hibernated local daemons for their next wake's first probe. */
  heldProbes: HeldProbes;
  /** Deaths the provider's watch reported, for starts waiting on their health check. */
  deaths: MachineDeaths;
}
