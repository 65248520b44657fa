// Input pieces shared by the routers, each with a message a person can act on.
import { CAUSES, STATES } from "@satellites/state";
import { z } from "zod";
import { satelliteName } from "../lib/fields.ts";

/** Ids are UUIDs or better-auth's random ids: letters, digits, '-' and '_'. */
export const idSchema = (what: string) =>
  z
    .string({ message: `${what} is required` })
    .trim()
    .min(1, `${what} is required`)
    .max(100, `${what} is not valid`)
    .regex(/^[A-Za-z0-9_-]+$/, `${what} is not valid`);

export const orgIdSchema = idSchema("orgId").optional();

export { satelliteName };

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
