// A satellite is awake only once a real gRPC health check passes against its upstream, over the
// same mutual TLS the proxy uses (client certificate from the CA, the satellite's own name).
import { type ProbeResult, waitHealthy, type WorkerLabel } from "@satellites/backend/probe";
import { satelliteServerName } from "@satellites/pki";
import { RetryableProviderError } from "@satellites/provider";
import type { JobsContext } from "./context.ts";

/** Probe options for one satellite's hop: credentials and the name its certificate must carry. */
export function hopProbe(ctx: Pick<JobsContext, "hopCredentials">, satelliteId: string): { credentials?: JobsContext["hopCredentials"]; serverName?: string } {
  return ctx.hopCredentials ? { credentials: ctx.hopCredentials, serverName: satelliteServerName(satelliteId) } : {};
}

/**
 * The health check after a start (launch or wake), given up as soon as the provider's watch
 * reports the machine dead — a daemon that exits as it starts (a bad configuration, a missing
 * file) fails in a second with what its log ends with, rather than after the whole timeout of
 * every retry with "did not pass its health check".
 */
export async function requireStarted(
  ctx: Pick<JobsContext, "provider" | "deaths" | "healthTimeoutMs" | "healthPoll" | "hopCredentials">,
  satelliteId: string,
  instanceId: string,
  upstream: string,
  /** The daemon must carry it too: it runs with the limits it stands for (Provider.readyLabel). */
  label?: WorkerLabel,
): Promise<void> {
  const death = ctx.deaths.watch(instanceId);
  try {
    if (await waitHealthy(upstream, { totalMs: ctx.healthTimeoutMs, ...ctx.healthPoll, ...hopProbe(ctx, satelliteId), signal: death.signal, ...(label && { workerLabel: label }) })) return;
    const said = await ctx.provider.diagnose?.(instanceId).catch(() => null);
    const tail = said ? `; its log ends: ${said}` : "";
    if (death.signal.aborted) {
      const info = await ctx.provider.describe(instanceId).catch(() => null);
      throw new RetryableProviderError(`${info?.failure ?? "the satellite's machine stopped on its own"} while starting${tail}`, START_CODES.exited);
    }
    const check = label ? "its health check with its current limits" : "its health check";
    throw new RetryableProviderError(`satellite did not pass ${check} at ${upstream} within ${Math.round(ctx.healthTimeoutMs / 1000)} s${tail}`, START_CODES.unhealthy);
  } finally {
    death.done();
  }
}

/** How a start failed, as RetryableProviderError codes (failure.ts gives up on these sooner). */
export const START_CODES = { exited: "ExitedAtStart", unhealthy: "HealthCheckTimeout" } as const;

/**
 * How long a check on a held channel may still take once the daemon is thawed, before the usual
 * polling takes over (a thawed daemon answers in milliseconds; this only bounds a stuck one).
 */
const HELD_CHECK_GRACE_MS = 500;

/** Whether the check sent on the held channel said SERVING by the grace after the start. */
export async function answeredEarly(early: Promise<ProbeResult>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<"late">((resolve) => (timer = setTimeout(resolve, HELD_CHECK_GRACE_MS, "late")));
  const first = await Promise.race([early, late]);
  clearTimeout(timer);
  return first === "SERVING";
}
