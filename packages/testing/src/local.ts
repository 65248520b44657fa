// Test-only, and not in the package index: it pulls in the local provider, which the web app's
// type check (DOM libs) must not see.
import { rmdir } from "node:fs/promises";
import { createLocalProvider } from "@satellites/provider";

/**
 * Local satellites outlive the worker that launched them (by design) and get none of its
 * environment, so a test run must terminate them through the provider and remove its own
 * cgroup parent (v1 hierarchies and the unified one; a cgroup goes with rmdir once empty).
 */
export async function terminateLocalSatellites(dataDir: string, cgroupParent: string): Promise<void> {
  const local = createLocalProvider({ dataDir, cgroupParent });
  for (const id of await local.list().catch(() => [])) await local.terminate(id).catch(() => {});
  for (const h of ["cpu", "memory", "freezer", "unified"]) await rmdir(`/sys/fs/cgroup/${h}/${cgroupParent}`).catch(() => {});
}
