// Calls into better-auth's server API on behalf of the signed-in caller, turning its errors
// into tRPC errors with the same meaning (better-auth answers UNAUTHORIZED for "not allowed",
// which for a signed-in person is FORBIDDEN).
import { isAPIError } from "better-auth/api";
import { TRPCError } from "@trpc/server";

type Code = ConstructorParameters<typeof TRPCError>[0]["code"];
const MAP: Record<string, Code> = {
  BAD_REQUEST: "BAD_REQUEST",
  UNAUTHORIZED: "FORBIDDEN",
  FORBIDDEN: "FORBIDDEN",
  NOT_FOUND: "NOT_FOUND",
  CONFLICT: "CONFLICT",
  UNPROCESSABLE_ENTITY: "BAD_REQUEST",
  TOO_MANY_REQUESTS: "TOO_MANY_REQUESTS",
};

/** "YOU_ARE_NOT_ALLOWED_TO_…" codes read badly; better-auth's messages are sentences. */
function messageOf(err: { message?: string; body?: { message?: string } | undefined }): string {
  const m = err.body?.message || err.message || "Request refused";
  return m.charAt(0).toUpperCase() + m.slice(1);
}

export async function viaAuth<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (isAPIError(err)) {
      // better-auth answers "already exists" (an organization's slug, a member) as 400; it is a conflict.
      const alreadyExists = /_ALREADY_EXISTS$|^ALREADY_/.test(String((err.body as { code?: string } | undefined)?.code ?? ""));
      const code = alreadyExists ? "CONFLICT" : MAP[String(err.status)];
      if (code) throw new TRPCError({ code, message: messageOf(err as never) });
    }
    throw err;
  }
}
