// better-auth's own inputs (sign-up, profile changes) checked with the same field rules as the
// dashboard's forms, before better-auth stores anything: a 50 MB name, a 1,000-character email
// or a NUL (which Postgres refuses with a stack trace) become a 400 naming the field.
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

export const checkAuthInput = createAuthMiddleware(async (ctx) => {
  const fields = CHECKED[ctx.path];
  if (!fields) return;
  const body = (ctx.body ?? {}) as Record<string, unknown>;
  for (const [field, schema] of Object.entries(fields)) {
    // Absent optional fields (update-user without a name) are better-auth's business.
    if (body[field] === undefined && !REQUIRED.has(ctx.path)) continue;
    const r = schema.safeParse(body[field]);
    if (!r.success) {
      throw new APIError("BAD_REQUEST", { message: `${field}: ${r.error.issues[0]?.message ?? "not valid"}`, code: "INVALID_FIELD", field });
    }
  }
});
