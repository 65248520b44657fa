// A satellite is awake only once a real gRPC health check passes against its upstream.
import { waitHealthy } from "@satellites/backend/probe";
import { RetryableProviderError } from "@satellites/provider";

export async function requireHealthy(upstream: string, totalMs: number, poll?: { intervalMs: number; maxIntervalMs: number }): Promise<void> {
  if (!(await waitHealthy(upstream, { totalMs, ...poll }))) {
    throw new RetryableProviderError(`satellite did not pass its health check at ${upstream} within ${Math.round(totalMs / 1000)} s`, "HealthCheckTimeout");
  }
}
