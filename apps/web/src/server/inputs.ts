// Input pieces shared by the routers, each with a message a person can act on.
import { CAUSES, STATES } from "@satellites/state";
import { z } from "zod";

/** Ids are UUIDs or better-auth's random ids: letters, digits, '-' and '_'. */
export const idSchema = (what: string) =>
  z
    .string({ message: `${what} is required` })
    .trim()
    .min(1, `${what} is required`)
    .max(100, `${what} is not valid`)
    .regex(/^[A-Za-z0-9_-]+$/, `${what} is not valid`);

// Control characters (NUL above all, which Postgres text cannot hold) are never meant.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Free text a person types (names, search): trimmed, bounded, no control characters. */
export const textSchema = (what: string, min: number, max: number) =>
  z
    .string({ message: `${what} is required` })
    .trim()
    .min(min, min <= 1 ? `${what} is required` : `${what} must be at least ${min} characters`)
    .max(max, `${what} must be at most ${max} characters`)
    .refine((v) => !CONTROL.test(v), `${what} must not contain control characters`);

export const orgIdSchema = idSchema("orgId").optional();

export const satelliteName = z
  .string({ message: "name is required" })
  .trim()
  .min(1, "Name is required")
  .max(63, "Name must be at most 63 characters")
  .regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/, "Name may use lowercase letters, digits and dashes, and must start and end with a letter or digit");

export const stateSchema = z.enum(STATES, { message: `state must be one of ${STATES.join(", ")}` });
export const causeSchema = z.enum(CAUSES, { message: `cause must be one of ${CAUSES.join(", ")}` });

export const limitSchema = (max = 200, def = 50) =>
  z
    .number({ message: "limit must be a number" })
    .int("limit must be a whole number")
    .min(1, "limit must be at least 1")
    .max(max, `limit must be at most ${max}`)
    .default(def);

const EARLIEST = new Date("2000-01-01T00:00:00Z");
const LATEST = new Date("2200-01-01T00:00:00Z");
export const dateSchema = (what: string) =>
  z.coerce
    .date({ message: `${what} must be a date (ISO 8601, e.g. 2026-01-31T12:00:00Z)` })
    .min(EARLIEST, `${what} must be after 2000-01-01`)
    .max(LATEST, `${what} must be before 2200-01-01`);
