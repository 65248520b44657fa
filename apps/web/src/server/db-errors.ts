// Database errors a client can cause (a race on a unique name, a row deleted meanwhile, a
// value out of range) answered as 409/404/400 in words, never Prisma's message: it names
// tables and constraints, and a 500 for a user's mistake would page someone.
import { TRPCError } from "@trpc/server";

const BY_CODE: Record<string, { code: "CONFLICT" | "NOT_FOUND" | "BAD_REQUEST"; message: string }> = {
  P2002: { code: "CONFLICT", message: "That name is already taken (perhaps by a request made at the same moment); choose another" },
  P2025: { code: "NOT_FOUND", message: "Not found (it may have just been deleted)" },
  P2003: { code: "CONFLICT", message: "Something this refers to was just changed or deleted; reload and try again" },
  P2000: { code: "BAD_REQUEST", message: "A value is too long" },
  P2020: { code: "BAD_REQUEST", message: "A value is out of range" },
  P2033: { code: "BAD_REQUEST", message: "A number is out of range" },
};

/**
 * Refusals raised by the schema's own triggers, by the prefix of their message: what the
 * client's change would have broken, in words (Prisma reports them as a foreign-key error).
 */
const BY_TRIGGER: Record<string, string> = {
  organization_needs_an_owner:
    "An organization needs an owner, and this would leave it with none: another owner left or changed role at the same moment. Make another member owner first",
};

type PrismaError = { code: string; meta?: { driverAdapterError?: DriverAdapterError } };
type DriverAdapterError = { name: "DriverAdapterError"; cause?: { originalMessage?: unknown } };

/** `err`'s cause chain (better-auth and tRPC both wrap), a few links deep. */
function* chain(err: unknown): Generator<object> {
  for (let e = err, depth = 0; e && typeof e === "object" && depth < 5; e = (e as { cause?: unknown }).cause, depth++) yield e;
}

/** The Prisma error in `err`'s cause chain. */
function prismaError(err: unknown): PrismaError | null {
  for (const e of chain(err)) {
    const { code, name } = e as { code?: unknown; name?: unknown };
    if (typeof code === "string" && /^P\d{4}$/.test(code) && typeof name === "string" && name.startsWith("PrismaClient")) return e as PrismaError;
  }
  return null;
}

/**
 * What one of the schema's triggers refused, in words. A deferred trigger's refusal comes at
 * commit, as the driver's own error rather than Prisma's.
 */
function triggerRefusal(err: unknown, prisma: PrismaError | null): string | undefined {
  const driver = prisma?.meta?.driverAdapterError ?? ([...chain(err)].find((e) => (e as { name?: unknown }).name === "DriverAdapterError") as DriverAdapterError | undefined);
  const raised = driver?.cause?.originalMessage;
  return typeof raised === "string" ? BY_TRIGGER[raised.slice(0, raised.indexOf(":"))] : undefined;
}

/** A TRPCError for a database error a client caused, or null for a real failure. */
export function clientDbError(err: unknown): TRPCError | null {
  const e = prismaError(err);
  const trigger = triggerRefusal(err, e);
  if (trigger) return new TRPCError({ code: "CONFLICT", message: trigger });
  const mapped = e ? BY_CODE[e.code] : undefined;
  return mapped ? new TRPCError({ code: mapped.code, message: mapped.message }) : null;
}
