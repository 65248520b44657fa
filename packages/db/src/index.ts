// Data access: one Prisma client per process over node-postgres (Prisma 7's driver adapter;
// no native query engine), plus the raw pg pieces Prisma has no API for (LISTEN/NOTIFY).
import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient } from "./generated/client.ts";

export * from "./generated/client.ts";
export type * from "./generated/models.ts";

export interface DbOptions {
  /** Pool size; the default suits one web/proxy/jobs process. */
  max?: number;
  /** Connections kept open when idle (pg-pool closes the rest after 10 s). */
  min?: number;
}

export function createDb(connectionString: string, opts: DbOptions = {}): PrismaClient {
  const max = opts.max ?? 10;
  const adapter = new PrismaPg({ connectionString, max, min: Math.min(opts.min ?? 0, max) });
  return new PrismaClient({ adapter });
}

export type Db = PrismaClient;
/** The client inside `db.$transaction(async (tx) => …)`. */
export type Tx = Parameters<Parameters<PrismaClient["$transaction"]>[0]>[0];
