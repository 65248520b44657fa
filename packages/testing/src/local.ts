// Test-only, and not in the package index: it pulls in the local provider, which the web app's
// type check (DOM libs) must not see.
import { rmdir } from "node:fs/promises";
import { createLocalProvider } from "@satellites/provider";

/**
 * Terminates every instance `provider` knows, and throws when one could not be: a swallowed
 * failure leaves a build daemon running after the test run (one did after every CI run, from a
 * satellite on a full disk, until 72c98d4).
 */
export async function terminateAll(provider: { list(): Promise<string[]>; terminate(id: string): Promise<void> }, label = "the test"): Promise<void> {
  const failures: unknown[] = [];
  for (const id of await provider.list()) await provider.terminate(id).catch((err: unknown) => failures.push(err));
  if (failures.length > 0) throw new AggregateError(failures, `${failures.length} satellite(s) of ${label} could not be terminated: ${failures.map((e) => (e instanceof Error ? e.message : String(e))).join("; ")}`);
}

/**
 * Local satellites outlive the worker that launched them (by design) and get none of its
 * environment, so a test run must terminate them through the provider and remove its own
 * cgroup parent (v1 hierarchies and the unified one; a cgroup goes with rmdir once empty).
 */
export async function terminateLocalSatellites(dataDir: string, cgroupParent: string): Promise<void> {
  const local = createLocalProvider({ dataDir, cgroupParent });
  // No data directory (nothing was launched): nothing to terminate.
  const ids = await local.list().catch(() => []);
  await terminateAll({ list: async () => ids, terminate: (id) => local.terminate(id) }, dataDir).finally(() => removeCgroups(cgroupParent));
}

/** The cgroup parent in each hierarchy (v1 ones and the unified one); absent ones are fine. */
async function removeCgroups(cgroupParent: string): Promise<void> {
  for (const h of ["cpu", "memory", "freezer", "pids", "unified"]) await rmdir(`/sys/fs/cgroup/${h}/${cgroupParent}`).catch(() => {});
}
