// Data access: one Prisma client per process over node-postgres (Prisma 7's driver adapter;
// no native query engine), plus the raw pg pieces Prisma has no API for (LISTEN/NOTIFY).
import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient } from "./generated/client.ts";

export * from "./generated/client.ts";
export type * from "./generated/models.ts";

export interface DbOptions {
  /** Pool size; the default suits one web/proxy/jobs process. */
  max?: number;
}

export function createDb(connectionString: string, opts: DbOptions = {}): PrismaClient {
  const adapter = new PrismaPg({ connectionString, max: opts.max ?? 10 });
  return new PrismaClient({ adapter });
}

export type Db = PrismaClient;
/** The client inside `db.$transaction(async (tx) => …)`. */
export type Tx = Parameters<Parameters<PrismaClient["$transaction"]>[0]>[0];
