// Deciding between "retry" and "give up": a permanent provider error, or the last attempt,
// moves the satellite to `failed` with the reason in its history; anything else is retried
// by BullMQ with backoff.
import { PermanentProviderError, RetryableProviderError } from "@satellites/provider";
import { type SatellitePatch, transitionById, type State } from "@satellites/state";
import { type Job, UnrecoverableError } from "bullmq";
import type { Satellite } from "@satellites/db";
import type { JobsContext } from "./context.ts";
import { START_CODES } from "./health.ts";
import { stillIn } from "./still-wanted.ts";

const START_ATTEMPTS: Partial<Record<string, number>> = { [START_CODES.exited]: 3, [START_CODES.unhealthy]: 2 };

/** Whether this failure ends the job for good (failOrRetry then records `failed`). */
export function givesUp(job: Job, err: unknown): boolean {
  // Throttling never ends a job: the worker pauses its queue instead (worker.ts).
  if (isThrottled(err)) return false;
  if (err instanceof PermanentProviderError || job.attemptsMade + 1 >= (job.opts.attempts ?? 1)) return true;
  // A daemon that exited as it started three times running will do so again, and one that never
  // answered within a whole health-check timeout twice (5 min each on EC2) will not answer the
  // next: say why now rather than after eight tries.
  const limit = err instanceof RetryableProviderError && err.code ? START_ATTEMPTS[err.code] : undefined;
  return limit !== undefined && job.attemptsMade + 1 >= limit;
}

/** EC2 said the account is over its API rate. */
export function isThrottled(err: unknown): boolean {
  return err instanceof RetryableProviderError && err.code === "RequestLimitExceeded";
}

/** `undo`: columns to restore when giving up (e.g. the size a resize could not apply). `ctx.log` is the job's, which names the satellite. */
/**
 * A provider's error as the satellite's members may read it (its history, the dashboard): AWS
 * names the operator's account, role and resources in an authorization failure, and appends an
 * encoded policy dump. The log keeps the whole message.
 */
export function forTenant(message: string): string {
  return message
    .replace(/\s*Encoded authorization failure message:[\s\S]*$/, "")
    .replace(/arn:aws[\w-]*:\S*/g, "(an AWS resource)")
    .replace(/\b\d{12}\b/g, "(an AWS account)")
    .slice(0, 1000);
}

export async function failOrRetry(ctx: JobsContext, job: Job, satelliteId: string, from: State, err: unknown, undo?: SatellitePatch): Promise<never> {
  const message = err instanceof Error ? err.message : String(err);
  if (givesUp(job, err)) {
    const reason = forTenant(message);
    const r = await transitionById(ctx.db, satelliteId, from, {
      to: "failed",
      cause: "failure",
      actor: "system",
      error: reason,
      set: { ...undo, failureReason: reason },
      detail: { attempts: job.attemptsMade + 1, job: job.name },
    });
    ctx.log.warn({ from, err: message, recorded: r.won }, "transition failed for good");
    if (r.won) await stopFailedMachine(ctx, r.satellite);
    throw new UnrecoverableError(message);
  }
  ctx.log.info({ from, err: message, attempt: job.attemptsMade + 1 }, "transition will be retried");
  throw err instanceof Error ? err : new Error(message);
}

/**
 * A failed satellite's machine is stopped: it serves nothing (calls get FAILED_PRECONDITION)
 * and must not run, billed, until a person retries. Best effort — the reconciler stops it too.
 * One that crashed is stopped too (the provider then no longer reports its death every poll),
 * unless a retry has moved the satellite on meanwhile.
 */
export async function stopFailedMachine(ctx: Pick<JobsContext, "provider" | "log" | "db">, sat: Pick<Satellite, "id" | "version" | "instanceId">): Promise<void> {
  const instanceId = sat.instanceId;
  if (!instanceId) return;
  try {
    const info = await ctx.provider.describe(instanceId);
    if (info.state === "running" || info.state === "pending" || info.failure) await ctx.provider.stop(instanceId, { hibernate: false, stillWanted: stillIn(ctx, sat, "failed") });
  } catch (err) {
    ctx.log.warn({ instanceId, err: err instanceof Error ? err.message : String(err) }, "could not stop the failed satellite's machine");
  }
}
