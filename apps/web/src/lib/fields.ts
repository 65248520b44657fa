// Every name, email and free-text field a person types, with its limits: one set of zod
// schemas for the forms (client-side checks) and the server (tRPC inputs, better-auth's
// sign-up), so both say the same thing. The figures are listed in docs/security.md.
import { z } from "zod";

export const FIELD_LIMITS = {
  personName: { min: 1, max: 100 },
  email: { max: 254 },
  password: { min: 8, max: 128 },
  orgName: { min: 2, max: 64 },
  tokenName: { min: 1, max: 64 },
  satelliteName: { min: 1, max: 63 },
  search: { min: 0, max: 63 },
  imageUrl: { max: 2048 },
} as const;

// Control characters (NUL above all, which Postgres text cannot hold) are never meant.
// eslint-disable-next-line no-control-regex
export const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;

/** Free text a person types (names, search): trimmed, bounded, no control characters. */
export const textField = (what: string, min: number, max: number) =>
  z
    .string({ message: `${what} is required` })
    // Checked before trimming: trim() would quietly drop a leading NUL or newline.
    .refine((v) => !CONTROL_CHARACTERS.test(v), `${what} must not contain control characters`)
    .trim()
    .min(min, min <= 1 ? `${what} is required` : `${what} must be at least ${min} characters`)
    .max(max, `${what} must be at most ${max} characters`);

export const personName = textField("Name", FIELD_LIMITS.personName.min, FIELD_LIMITS.personName.max);
export const orgName = textField("Name", FIELD_LIMITS.orgName.min, FIELD_LIMITS.orgName.max);
export const tokenName = textField("Name", FIELD_LIMITS.tokenName.min, FIELD_LIMITS.tokenName.max);
export const searchText = textField("search", FIELD_LIMITS.search.min, FIELD_LIMITS.search.max);

export const emailAddress = z
  .string({ message: "Email is required" })
  .max(FIELD_LIMITS.email.max, `Email must be at most ${FIELD_LIMITS.email.max} characters`)
  .refine((v) => !CONTROL_CHARACTERS.test(v), "Email must not contain control characters")
  .trim()
  .pipe(z.email("Enter a valid email address"));

/** better-auth's optional profile picture (the dashboard sets none): an http(s) URL if anything. */
export const imageUrl = z
  .string({ message: "Image must be a URL" })
  .max(FIELD_LIMITS.imageUrl.max, `Image must be at most ${FIELD_LIMITS.imageUrl.max} characters`)
  .refine((v) => !CONTROL_CHARACTERS.test(v), "Image must not contain control characters")
  .pipe(z.url({ protocol: /^https?$/, message: "Image must be an http(s) URL" }))
  .nullish();

export const password = z
  .string({ message: "Password is required" })
  .min(FIELD_LIMITS.password.min, `Password must be at least ${FIELD_LIMITS.password.min} characters`)
  .max(FIELD_LIMITS.password.max, `Password must be at most ${FIELD_LIMITS.password.max} characters`);

export const satelliteName = z
  .string({ message: "name is required" })
  .refine((v) => !CONTROL_CHARACTERS.test(v), "Name must not contain control characters")
  .trim()
  .min(1, "Name is required")
  .max(FIELD_LIMITS.satelliteName.max, `Name must be at most ${FIELD_LIMITS.satelliteName.max} characters`)
  .regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/, "Name may use lowercase letters, digits and dashes, and must start and end with a letter or digit");

/** The first problem with `value`, or null: for forms that check a field before sending it. */
export function fieldError(schema: z.ZodType, value: unknown): string | null {
  const r = schema.safeParse(value);
  return r.success ? null : (r.error.issues[0]?.message ?? "Not valid");
}

/**
 * Forms do not set `maxLength` on their inputs: the browser would cut a pasted value short
 * without a word. They show this instead, while the person types, with the limit and the count.
 */
export function tooLong(what: string, value: string, max: number): string | null {
  const n = [...value.trim()].length;
  return n > max ? `${what} can be at most ${max} characters; this one has ${n}` : null;
}
