// Limits enforced on a satellite's build daemon. The CPU cap stays below 100 % so health
// checks keep running under load; the daemon's oom_score_adj is negative by default (−500) so
// the kernel's OOM killer picks a build step before the daemon itself (the providers apply it:
// the local wrapper, EC2's OOMScoreAdjust).
import { z } from "zod";
import { SIZE_SPECS, type SizeName } from "./sizes.ts";

export interface Limits {
  /** Percent of the whole machine's CPU (100 = all vCPUs). */
  cpuPercent: number;
  memoryMiB: number;
  swapMiB: number;
  diskGiB: number;
  /** -1000..1000, applied to the build daemon. */
  oomScoreAdj: number;
  idleTimeoutSeconds: number;
}

export const LIMIT_RANGES = {
  cpuPercent: { min: 10, max: 95 },
  swapMiB: { min: 0, max: 65536 },
  diskGiB: { min: 20, max: 2000 },
  oomScoreAdj: { min: -1000, max: 1000 },
  idleTimeoutSeconds: { min: 60, max: 7 * 24 * 3600 },
} as const;

export function defaultLimits(size: SizeName, idleTimeoutSeconds = 1800): Limits {
  const spec = SIZE_SPECS[size];
  return {
    cpuPercent: 95,
    // Leave room for the OS and the daemon's own bookkeeping.
    memoryMiB: Math.floor(spec.memoryMiB * 0.9),
    swapMiB: 0,
    diskGiB: 100,
    oomScoreAdj: -500,
    idleTimeoutSeconds,
  };
}

/** Limits checked against the satellite's size: memory cannot exceed the machine's. */
export function limitsSchema(size: SizeName) {
  const spec = SIZE_SPECS[size];
  const int = (name: string, min: number, max: number, unit = "") =>
    z
      .number({ message: `${name} must be a number` })
      .int(`${name} must be a whole number`)
      .min(min, `${name} must be at least ${min}${unit}`)
      .max(max, `${name} must be at most ${max}${unit} for a ${size} satellite`);
  return z.object({
    cpuPercent: int("CPU", LIMIT_RANGES.cpuPercent.min, LIMIT_RANGES.cpuPercent.max, " %"),
    memoryMiB: int("Memory", 256, spec.memoryMiB, " MiB"),
    swapMiB: int("Swap", LIMIT_RANGES.swapMiB.min, LIMIT_RANGES.swapMiB.max, " MiB"),
    diskGiB: int("Disk", LIMIT_RANGES.diskGiB.min, LIMIT_RANGES.diskGiB.max, " GiB"),
    oomScoreAdj: int("OOM score adjustment", LIMIT_RANGES.oomScoreAdj.min, LIMIT_RANGES.oomScoreAdj.max),
    idleTimeoutSeconds: int("Idle timeout", LIMIT_RANGES.idleTimeoutSeconds.min, LIMIT_RANGES.idleTimeoutSeconds.max, " s"),
  });
}

/** The limits stored on a satellite row (columns are flat in the database). */
export function limitsOf(row: {
  limitCpuPercent: number;
  limitMemoryMiB: number;
  limitSwapMiB: number;
  limitDiskGiB: number;
  limitOomScoreAdj: number;
  idleTimeoutSeconds: number;
}): Limits {
  return {
    cpuPercent: row.limitCpuPercent,
    memoryMiB: row.limitMemoryMiB,
    swapMiB: row.limitSwapMiB,
    diskGiB: row.limitDiskGiB,
    oomScoreAdj: row.limitOomScoreAdj,
    idleTimeoutSeconds: row.idleTimeoutSeconds,
  };
}

export function limitColumns(l: Limits) {
  return {
    limitCpuPercent: l.cpuPercent,
    limitMemoryMiB: l.memoryMiB,
    limitSwapMiB: l.swapMiB,
    limitDiskGiB: l.diskGiB,
    limitOomScoreAdj: l.oomScoreAdj,
    idleTimeoutSeconds: l.idleTimeoutSeconds,
  };
}

/**
 * The disk limit as a local satellite's command line can carry it (LOCAL_SATELLITE_COMMAND):
 * a build daemon's cache budget, which the host cannot enforce from outside the way cgroups
 * enforce CPU and memory. MB is 10^6 bytes, buildkitd's unit for --oci-worker-gc-keepstorage.
 */
export const DISK_PLACEHOLDERS: Record<string, (l: Pick<Limits, "diskGiB">) => string> = {
  "{diskGiB}": (l) => String(l.diskGiB),
  "{diskMB}": (l) => String(Math.floor((l.diskGiB * 2 ** 30) / 1e6)),
};

/** Whether a satellite started from `template` is given its disk limit. */
export function carriesDiskLimit(template: string | undefined): boolean {
  return template !== undefined && Object.keys(DISK_PLACEHOLDERS).some((p) => template.includes(p));
}
