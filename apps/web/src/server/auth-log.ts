// better-auth's log lines. A database error a client caused (two sign-ups with one email at
// the same moment) is one warning line, not an error with Prisma's stack: the client already
// got its 4xx, and nobody should be paged for it. Everything else is logged as better-auth would.
import type { BetterAuthOptions } from "better-auth";
import { clientDbError } from "./db-errors.ts";

type Log = NonNullable<NonNullable<BetterAuthOptions["logger"]>["log"]>;

export const authLog: Log = (level, message, ...args) => {
  const clientCaused = args.map(clientDbError).find((e) => e !== null);
  if (clientCaused) {
    console.warn(`[better-auth] ${message}: the database answered ${clientCaused.code} (a concurrent request got there first); the client was answered 4xx`);
    return;
  }
  const write = level === "error" ? console.error : level === "warn" ? console.warn : console.log;
  write(`[better-auth] ${message}`, ...args);
};
