// A fresh Prisma client loads its query compiler and opens its first connection on the first
// query (about 250 ms on a 2-vCPU machine), then compiles each new query shape once (10-25 ms).
// A long-running process runs its hot path's queries once at start-up, against rows that do
// not exist, so the first caller after a restart or deploy does not pay for that.

/** Runs `queries` one after another; resolves with the time taken, rejects on the first failure. */
export async function warmUp(queries: Array<() => Promise<unknown>>): Promise<number> {
  const started = performance.now();
  for (const q of queries) await q();
  return Math.round(performance.now() - started);
}
