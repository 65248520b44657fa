// A satellite is awake only once a real gRPC health check passes against its upstream, over the
// same mutual TLS the proxy uses (client certificate from the CA, the satellite's own name).
import { type ProbeResult, waitHealthy } from "@satellites/backend/probe";
import { satelliteServerName } from "@satellites/pki";
import { RetryableProviderError } from "@satellites/provider";
import type { JobsContext } from "./context.ts";

/** Probe options for one satellite's hop: credentials and the name its certificate must carry. */
export function hopProbe(ctx: Pick<JobsContext, "hopCredentials">, satelliteId: string): { credentials?: JobsContext["hopCredentials"]; serverName?: string } {
  return ctx.hopCredentials ? { credentials: ctx.hopCredentials, serverName: satelliteServerName(satelliteId) } : {};
}

export async function requireHealthy(
  upstream: string,
  totalMs: number,
  poll?: { intervalMs: number; maxIntervalMs: number },
  hop: ReturnType<typeof hopProbe> = {},
): Promise<void> {
  if (!(await waitHealthy(upstream, { totalMs, ...poll, ...hop }))) {
    throw new RetryableProviderError(`satellite did not pass its health check at ${upstream} within ${Math.round(totalMs / 1000)} s`, "HealthCheckTimeout");
  }
}

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
