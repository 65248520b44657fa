// better-auth's own inputs (sign-up, profile changes) checked with the same field rules as the
// dashboard's forms, before better-auth stores anything: a 50 MB name, a 1,000-character email
// or a NUL (which Postgres refuses with a stack trace) become a 400 naming the field. A NUL is
// refused wherever else better-auth reads a value too (a reset or verification token in the
// body, the query or the path, a session token): Postgres cannot compare it, and better-auth
// answered an empty 500. Passwords are only ever hashed, so they may hold any character.
import { APIError, createAuthMiddleware } from "better-auth/api";
import type { z } from "zod";
import { emailAddress, imageUrl, password, personName } from "../lib/fields.ts";

/** Which body fields of which better-auth endpoints are checked, and against what. */
const CHECKED: Record<string, Record<string, z.ZodType>> = {
  "/sign-up/email": { name: personName, email: emailAddress, password, image: imageUrl },
  "/sign-in/email": { email: emailAddress },
  "/update-user": { name: personName, image: imageUrl },
  "/change-email": { newEmail: emailAddress },
  "/request-password-reset": { email: emailAddress },
  "/send-verification-email": { email: emailAddress },
};

/** Endpoints whose checked fields are all required. */
const REQUIRED = new Set(["/sign-up/email", "/sign-in/email"]);

const HASHED_ONLY = new Set(["password", "newPassword", "currentPassword"]);

/** The first top-level string value holding a NUL, by where it came from. */
function nulField(ctx: { body?: unknown; query?: unknown; params?: unknown }): string | null {
  for (const [where, values] of [["body", ctx.body], ["query", ctx.query], ["path", ctx.params]] as const) {
    if (!values || typeof values !== "object") continue;
    for (const [field, v] of Object.entries(values as Record<string, unknown>)) {
      if (typeof v === "string" && v.includes("\u0000") && !HASHED_ONLY.has(field)) return where === "body" ? field : `${field} (${where})`;
    }
  }
  return null;
}

export const checkAuthInput = createAuthMiddleware(async (ctx) => {
  const fields = CHECKED[ctx.path] ?? {};
  const body = (ctx.body ?? {}) as Record<string, unknown>;
  for (const [field, schema] of Object.entries(fields)) {
    // Absent optional fields (update-user without a name) are better-auth's business.
    if (body[field] === undefined && !REQUIRED.has(ctx.path)) continue;
    const r = schema.safeParse(body[field]);
    if (!r.success) {
      throw new APIError("BAD_REQUEST", { message: `${field}: ${r.error.issues[0]?.message ?? "not valid"}`, code: "INVALID_FIELD", field });
    }
  }
  const nul = nulField(ctx);
  if (nul) throw new APIError("BAD_REQUEST", { message: `${nul}: must not contain NUL characters`, code: "INVALID_FIELD", field: nul });
});
