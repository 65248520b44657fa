// Helpers for tests that drive the emulator: a free port for the satellite port, process
// inspection (alive? frozen by SIGSTOP?), an SDK client pointed at an emulator, and polling.
import { readFileSync } from "node:fs";
import { EC2Client } from "@aws-sdk/client-ec2";
export { freePort } from "@satellites/testing";


export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie is dead for our purposes.
  return processState(pid) !== "Z";
}

/** The state letter from /proc/<pid>/stat: R, S, T (stopped by a signal), Z… */
export function processState(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
  } catch {
    return null;
  }
}

export const TEST_CREDENTIALS = { accessKeyId: "AKIDEMULATOR", secretAccessKey: "emulator-secret" };

export function ec2Client(endpoint: string, opts: { maxAttempts?: number } = {}): EC2Client {
  return new EC2Client({ region: "us-east-1", endpoint, credentials: TEST_CREDENTIALS, maxAttempts: opts.maxAttempts ?? 3 });
}

/** Polls `fn` until it returns a truthy value or `timeoutMs` passes. */
export async function eventually<T>(fn: () => T | Promise<T>, timeoutMs = 5000, what = "condition"): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A cheap stand-in machine for tests that never probe health (no Node start-up cost). */
export const SLEEP_COMMAND = ["sleep", "600"] as const;
