// The local provider's failures mapped onto the provider error contract (retry or fail).
import { PermanentProviderError, RetryableProviderError } from "./types.ts";

export function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

/** Maps internal failures onto the provider error contract (the job retries or fails). */
export function providerError(err: unknown, what: string): Error {
  if (err instanceof RetryableProviderError || err instanceof PermanentProviderError) return err;
  const message = `${what}: ${err instanceof Error ? err.message : String(err)}`;
  const code = errno(err);
  // The kernel refused a value (e.g. a memory cap below current usage): retrying will not help.
  if (code === "EINVAL" || code === "EBUSY") return new PermanentProviderError(message, code);
  return new RetryableProviderError(message, code);
}
