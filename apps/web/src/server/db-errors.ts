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

/** The Prisma error anywhere in `err`'s cause chain (better-auth and tRPC both wrap). */
function prismaCode(err: unknown): string | null {
  for (let e = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    const name = (e as { name?: unknown }).name;
    if (typeof code === "string" && /^P\d{4}$/.test(code) && typeof name === "string" && name.startsWith("PrismaClient")) return code;
  }
  return null;
}

/** A TRPCError for a database error a client caused, or null for a real failure. */
export function clientDbError(err: unknown): TRPCError | null {
  const code = prismaCode(err);
  const mapped = code ? BY_CODE[code] : undefined;
  return mapped ? new TRPCError({ code: mapped.code, message: mapped.message }) : null;
}
