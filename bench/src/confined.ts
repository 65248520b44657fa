// A daemon in a cgroup of its own with a CPU quota and a memory limit, as the local provider
// confines a satellite: a benchmark's direct baseline placed the way the satellite is. On a
// busy machine a cgroup is scheduled as one entity against every other task (its threads share
// one weight), so a confined daemon is slower than an unconfined one for reasons that have
// nothing to do with what sits between it and its client.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, rmdirSync, writeFileSync } from "node:fs";
import path from "node:path";

const ROOT = "/sys/fs/cgroup";

export interface Confinement {
  cpuQuotaUs: number;
  memoryBytes: number;
}

/** The cgroup folders to create for `name`, with the limit files to write in each. */
function groups(name: string, c: Confinement): { dir: string; files: Record<string, string> }[] {
  const period = "100000";
  if (existsSync(path.join(ROOT, "cgroup.controllers"))) {
    return [{ dir: path.join(ROOT, name), files: { "cpu.max": `${c.cpuQuotaUs} ${period}`, "memory.max": String(c.memoryBytes) } }];
  }
  return [
    { dir: path.join(ROOT, "cpu", name), files: { "cpu.cfs_period_us": period, "cpu.cfs_quota_us": String(c.cpuQuotaUs) } },
    { dir: path.join(ROOT, "memory", name), files: { "memory.limit_in_bytes": String(c.memoryBytes) } },
  ];
}

/** Starts `cmd args` inside a new cgroup (the shell moves itself in, then execs the daemon). */
export function spawnConfined(name: string, c: Confinement, cmd: string, args: string[], env: Record<string, string> = {}): { child: ChildProcess; remove(): void } {
  const gs = groups(name, c);
  for (const g of gs) {
    mkdirSync(g.dir, { recursive: true });
    for (const [file, value] of Object.entries(g.files)) writeFileSync(path.join(g.dir, file), value);
  }
  const join = gs.map((g) => `echo $$ > ${path.join(g.dir, "cgroup.procs")}`).join("; ");
  const child = spawn("sh", ["-c", `${join}; exec "$0" "$@"`, cmd, ...args], { env: { ...process.env, ...env }, stdio: "ignore" });
  return {
    child,
    remove: () => {
      for (const g of gs) {
        try {
          rmdirSync(g.dir);
        } catch {
          // still has a process in it, or already gone
        }
      }
    },
  };
}
