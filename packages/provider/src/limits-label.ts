// Which limits a satellite's BuildKit runs with, as a worker label its configuration carries
// (EC2 user-data's buildkitd.toml). On EC2 a woken daemon first runs the previous boot's files
// (or, resumed, the ones it was frozen with) until the user-data script restarts it with new
// ones: a wake that asked only "does it answer?" let builds onto the old daemon, under the old
// limits, and the restart then cut them. The wake waits for this label instead.
import { createHash } from "node:crypto";
import type { Limits, SizeName } from "@satellites/catalog";

export const LIMITS_LABEL = "satellites.limits";

/**
 * A digest of the limits the machine enforces (not the idle timeout, which the control plane
 * keeps) and of its size (the CPU quota is a share of its vCPUs, so a resize with the same limits
 * changes what it enforces): the same limits and size, the same label, across renders and
 * processes.
 */
export function limitsLabel(limits: Limits, size: SizeName): string {
  const enforced = [limits.cpuPercent, limits.memoryMiB, limits.swapMiB, limits.diskGiB, limits.oomScoreAdj, size].join("/");
  return createHash("sha256").update(enforced).digest("hex").slice(0, 16);
}
