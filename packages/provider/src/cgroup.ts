// Per-satellite cgroups for the local provider: run-time detection of a writable cgroup v2
// (unified, with cpu + memory; pids when offered) or v1 (cpu + memory hierarchies, freezer and
// pids optional) tree, and the
// few file writes the provider needs: limits, freeze/thaw, membership, removal.
import { access, mkdir, readFile, readdir, rmdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Limits } from "@satellites/catalog";

export type CgroupMode = "v2" | "v1" | "none";

/** One satellite's cgroup(s); stored in its state file so a later worker finds them. */
export interface CgroupSet {
  mode: "v1" | "v2";
  /** Directory whose cpu.* files cap CPU (v2: the one group). */
  cpu: string;
  memory: string;
  /** Directory with the freezer (v1 freezer.state / v2 cgroup.freeze); null: use SIGSTOP. */
  freezer: string | null;
  /** Directory whose pids.max caps the satellite's processes; null or absent: no pids controller. */
  pids?: string | null;
  /**
   * The group's path inside every hierarchy (e.g. `/satellites/local-…`): what a build daemon's
   * cgroup parent is set to, so the containers of its build steps are created inside the group
   * and its limits and freezer cover them. Absent in state files written before it existed.
   */
  path?: string;
  /** Where the hierarchies are mounted (to tidy the groups runc adds in the ones not managed here). */
  root?: string;
  /**
   * v2 only: the leaf the satellite's own process joins. cgroup v2 lets a group with processes
   * in it have no child groups with controllers, so the daemon sits in `<group>/daemon` and its
   * build steps' containers in siblings; the limits stay on `<group>`.
   */
  procs?: string;
}

export interface CgroupHost {
  mode: CgroupMode;
  /** Why this mode was chosen (logged, and shown when limits are not enforced). */
  reason: string;
  /** Parent group directories (`<hierarchy>/<parent>`), one per hierarchy used. */
  parentDirs: string[];
  /** Creates (or finds) the child group `name`; null in mode "none". */
  create(name: string): Promise<CgroupSet | null>;
  /** Removes the parent groups if empty (tests use a private parent). */
  removeParents(): Promise<void>;
}

export const CFS_PERIOD_US = 100_000;
/** Processes (threads included) one satellite may have (LOCAL_SATELLITE_PIDS_MAX). */
export const DEFAULT_PIDS_MAX = 4096;
const MIB = 1024 * 1024;

/** CPU quota per period for a share of the whole machine (100 % = every CPU). */
export function cpuQuotaUs(cpuPercent: number, cpuCount: number, periodUs = CFS_PERIOD_US): number {
  // The kernel refuses quotas under 1 ms.
  return Math.max(1000, Math.round((cpuPercent / 100) * cpuCount * periodUs));
}

export function memoryBytes(mib: number): number {
  return mib * MIB;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

async function readTrim(path: string): Promise<string> {
  return (await readFile(path, "utf8")).trim();
}

function errCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

/** A write that may be refused (a controller the tree will not enable): whether it took. */
async function tryWrite(path: string, value: string): Promise<boolean> {
  try {
    await writeFile(path, value);
    return true;
  } catch {
    return false;
  }
}

/** mkdir that reports whether it created the directory; a real cgroup gains `cgroup.procs`. */
async function makeGroup(dir: string): Promise<boolean> {
  try {
    await mkdir(dir);
    return true;
  } catch (err) {
    if (errCode(err) === "EEXIST") return false;
    throw err;
  }
}

async function rmdirQuiet(dir: string): Promise<void> {
  try {
    await rmdir(dir);
  } catch {
    // Busy or already gone: nothing to tidy.
  }
}

async function tryV2(base: string, parent: string): Promise<CgroupHost | string> {
  let controllers: string[];
  try {
    controllers = (await readTrim(join(base, "cgroup.controllers"))).split(/\s+/);
  } catch {
    return `${base} is not a cgroup2 mount`;
  }
  const missing = ["cpu", "memory"].filter((c) => !controllers.includes(c));
  if (missing.length > 0) return `cgroup2 at ${base} lacks the ${missing.join(" and ")} controller(s)`;
  // The process cap where the kernel offers it (a fork bomb in a build step takes the host's
  // PIDs): enabled apart, so a tree that refuses it keeps the CPU and memory limits.
  let pids = controllers.includes("pids");
  const parentDir = join(base, parent);
  let created = false;
  try {
    // Enabling controllers for children is needed at every level down to our groups; on the
    // root of a namespace with processes in it this fails (EBUSY), and then v2 is not usable.
    const enabled = (await readTrim(join(base, "cgroup.subtree_control"))).split(/\s+/);
    if (!enabled.includes("cpu") || !enabled.includes("memory"))
      await writeFile(join(base, "cgroup.subtree_control"), "+cpu +memory");
    created = await makeGroup(parentDir);
    if (!(await exists(join(parentDir, "cgroup.procs")))) throw new Error("not a cgroup");
    await writeFile(join(parentDir, "cgroup.subtree_control"), "+cpu +memory");
    if (pids) pids = (enabled.includes("pids") || (await tryWrite(join(base, "cgroup.subtree_control"), "+pids"))) && (await tryWrite(join(parentDir, "cgroup.subtree_control"), "+pids"));
  } catch (err) {
    if (created) await rmdirQuiet(parentDir);
    return `cgroup2 at ${base} is not writable (${errCode(err) ?? (err as Error).message})`;
  }
  return {
    mode: "v2",
    reason: `cgroup v2 at ${base}`,
    parentDirs: [parentDir],
    async create(name) {
      const dir = join(parentDir, name);
      await makeGroup(dir);
      const procs = join(dir, "daemon");
      await makeGroup(procs);
      // Children (the daemon's leaf, build step containers) get the controllers the limits use.
      await writeFile(join(dir, "cgroup.subtree_control"), "+cpu +memory");
      if (pids) await tryWrite(join(dir, "cgroup.subtree_control"), "+pids");
      // cgroup.freeze exists in every non-root v2 group since Linux 5.2.
      const freezer = (await exists(join(dir, "cgroup.freeze"))) ? dir : null;
      return { mode: "v2", cpu: dir, memory: dir, freezer, pids: (await exists(join(dir, "pids.max"))) ? dir : null, procs, path: `/${parent}/${name}`, root: base };
    },
    removeParents: () => rmdirQuiet(parentDir),
  };
}

async function tryV1(root: string, parent: string): Promise<CgroupHost | string> {
  // A hierarchy counts when its marker file exists at the top and in a group we create.
  const wanted = { cpu: "cpu.cfs_quota_us", memory: "memory.limit_in_bytes", freezer: "freezer.state", pids: "pids.max" } as const;
  const dirs: Partial<Record<keyof typeof wanted, string>> = {};
  const problems: string[] = [];
  for (const [controller, marker] of Object.entries(wanted) as [keyof typeof wanted, string][]) {
    const hierarchy = join(root, controller);
    const parentDir = join(hierarchy, parent);
    // The root freezer (and pids) group has no freezer.state (pids.max); its cgroup.procs tells that it is mounted.
    const topMarker = controller === "freezer" || controller === "pids" ? "cgroup.procs" : marker;
    if (!(await exists(join(hierarchy, topMarker)))) {
      problems.push(`no v1 ${controller} hierarchy`);
      continue;
    }
    let created = false;
    try {
      created = await makeGroup(parentDir);
      if (!(await exists(join(parentDir, marker)))) throw new Error("not a cgroup");
      dirs[controller] = parentDir;
    } catch (err) {
      if (created) await rmdirQuiet(parentDir);
      problems.push(`v1 ${controller} not writable (${errCode(err) ?? (err as Error).message})`);
    }
  }
  const { cpu, memory, freezer, pids } = dirs;
  if (cpu === undefined || memory === undefined) {
    for (const dir of Object.values(dirs)) await rmdirQuiet(dir);
    return problems.join(", ");
  }
  const parentDirs = [cpu, memory, ...(freezer ? [freezer] : []), ...(pids ? [pids] : [])];
  return {
    mode: "v1",
    reason: `cgroup v1 (cpu, memory${pids ? ", pids" : "; no pids: processes uncapped"}${freezer ? ", freezer" : "; no freezer: hibernate uses SIGSTOP"}) under ${root}`,
    parentDirs,
    async create(name) {
      const set: CgroupSet = {
        mode: "v1",
        cpu: join(cpu, name),
        memory: join(memory, name),
        freezer: freezer ? join(freezer, name) : null,
        pids: pids ? join(pids, name) : null,
        path: `/${parent}/${name}`,
        root,
      };
      for (const dir of dirsOf(set)) await makeGroup(dir);
      return set;
    },
    async removeParents() {
      for (const dir of parentDirs) await rmdirQuiet(dir);
    },
  };
}

/**
 * Finds where satellites can be confined: cgroup v2 at `root` (or its hybrid `unified` mount)
 * with cpu + memory, else the v1 cpu + memory (+ freezer) hierarchies, else "none".
 */
export async function detectCgroups(opts: { root?: string; parent?: string } = {}): Promise<CgroupHost> {
  const root = opts.root ?? "/sys/fs/cgroup";
  const parent = opts.parent ?? "satellites";
  const reasons: string[] = [];
  for (const base of [root, join(root, "unified")]) {
    const v2 = await tryV2(base, parent);
    if (typeof v2 !== "string") return v2;
    reasons.push(v2);
  }
  const v1 = await tryV1(root, parent);
  if (typeof v1 !== "string") return v1;
  reasons.push(v1);
  return {
    mode: "none",
    reason: `no writable cgroup: ${reasons.join("; ")}`,
    parentDirs: [],
    create: () => Promise.resolve(null),
    removeParents: () => Promise.resolve(),
  };
}

/**
 * A set recorded before the process cap existed (no `pids`; state files keep the set): its pids
 * group, where the host has one, so the cap is written at its next start instead of never. On
 * v1 the group is made; the daemon joins it when it next starts.
 */
export async function withProcessCap(set: CgroupSet): Promise<CgroupSet> {
  if (set.pids !== undefined) return set;
  if (set.mode === "v2") return { ...set, pids: (await exists(join(set.cpu, "pids.max"))) ? set.cpu : null };
  if (!set.root || !set.path || !(await exists(join(set.root, "pids", "cgroup.procs")))) return { ...set, pids: null };
  const dir = join(set.root, "pids", set.path);
  try {
    await mkdir(dir, { recursive: true });
  } catch {
    return { ...set, pids: null };
  }
  return { ...set, pids: (await exists(join(dir, "pids.max"))) ? dir : null };
}

/** The distinct directories of a set (v2 uses one for everything). */
export function dirsOf(set: CgroupSet): string[] {
  return [...new Set([set.cpu, set.memory, ...(set.freezer ? [set.freezer] : []), ...(set.pids ? [set.pids] : [])])];
}

/** Files a process writes its pid to in order to join every group of the set. */
export function procsFiles(set: CgroupSet): string[] {
  if (set.procs) return [join(set.procs, "cgroup.procs")];
  return dirsOf(set).map((dir) => join(dir, "cgroup.procs"));
}

/** A group and every group below it (build steps' containers), deepest first. */
async function subtree(dir: string): Promise<string[]> {
  const below: string[] = [];
  for (const child of await childGroups(dir)) below.push(...(await subtree(join(dir, child))));
  return [...below, dir];
}

/**
 * Where else the group exists: runc creates a container's group in every mounted hierarchy
 * (pids, devices, cpuset, …), so a build daemon's steps leave `<path>` subtrees there too.
 */
async function otherHierarchies(set: CgroupSet): Promise<string[]> {
  if (!set.path || !set.root) return [];
  const own = new Set(dirsOf(set));
  const found: string[] = [];
  for (const h of await childGroups(set.root)) {
    const dir = join(set.root, h, set.path);
    if (!own.has(dir) && (await exists(join(dir, "cgroup.procs")))) found.push(dir);
  }
  return found;
}

/** Whether the groups still exist (they do not survive a reboot). */
export async function cgroupExists(set: CgroupSet): Promise<boolean> {
  for (const file of procsFiles(set)) if (!(await exists(file))) return false;
  return true;
}

/** Every process in the groups, build steps' containers (child groups) included. */
export async function cgroupPids(set: CgroupSet): Promise<number[]> {
  const pids = new Set<number>();
  for (const top of dirsOf(set)) {
    for (const dir of await subtree(top)) {
      try {
        for (const line of (await readFile(join(dir, "cgroup.procs"), "utf8")).split("\n")) if (line) pids.add(Number(line));
      } catch {
        // A group that is gone holds nobody.
      }
    }
  }
  return [...pids];
}

/** True when `pid` is in every group of the set. */
export async function containsPid(set: CgroupSet, pid: number): Promise<boolean> {
  for (const file of procsFiles(set)) {
    try {
      if (!(await readFile(file, "utf8")).split("\n").includes(String(pid))) return false;
    } catch {
      return false;
    }
  }
  return true;
}

/** Writes CPU and memory caps; safe on a live group (cgroups change in place). */
export async function writeLimits(
  set: CgroupSet,
  limits: Pick<Limits, "cpuPercent" | "memoryMiB" | "swapMiB">,
  cpuCount: number,
  pidsMax: number = DEFAULT_PIDS_MAX,
): Promise<void> {
  const quota = cpuQuotaUs(limits.cpuPercent, cpuCount);
  const mem = memoryBytes(limits.memoryMiB);
  const swap = memoryBytes(limits.swapMiB);
  if (set.pids) await writeFile(join(set.pids, "pids.max"), String(pidsMax));
  if (set.mode === "v2") {
    await writeFile(join(set.cpu, "cpu.max"), `${quota} ${CFS_PERIOD_US}`);
    await writeFile(join(set.memory, "memory.max"), String(mem));
    // Absent when the kernel does not account swap.
    const swapFile = join(set.memory, "memory.swap.max");
    if (await exists(swapFile)) await writeFile(swapFile, String(swap));
    return;
  }
  await writeFile(join(set.cpu, "cpu.cfs_period_us"), String(CFS_PERIOD_US));
  await writeFile(join(set.cpu, "cpu.cfs_quota_us"), String(quota));
  // memsw must never be below the memory limit: lift it, set memory, then cap memory + swap.
  const memsw = join(set.memory, "memory.memsw.limit_in_bytes");
  const hasMemsw = await exists(memsw);
  if (hasMemsw) await writeFile(memsw, "-1");
  await writeFile(join(set.memory, "memory.limit_in_bytes"), String(mem));
  if (hasMemsw) await writeFile(memsw, String(mem + swap));
}

/** What the OOM killer did in a group: `kills` since the group with id `group` was made. */
export interface MemoryKills {
  /** The memory group's inode: a group made anew (after a reboot) counts from zero again. */
  group: string;
  kills: number;
}

/**
 * How many processes the kernel's OOM killer has killed in the group and every group below it
 * (build steps' containers included): `oom_kill` of v2's memory.events. Null on v1, whose
 * memory.oom_control counts only the group's own processes (a kill in a child group is not
 * added to its parents), when the kernel does not say, or when the group is gone.
 */
export async function memoryKills(set: CgroupSet): Promise<MemoryKills | null> {
  if (set.mode !== "v2") return null;
  const file = join(set.memory, "memory.events");
  try {
    const [text, info] = await Promise.all([readFile(file, "utf8"), stat(set.memory, { bigint: true })]);
    const m = /^oom_kill (\d+)$/m.exec(text);
    return m ? { group: info.ino.toString(), kills: Number(m[1]) } : null;
  } catch {
    return null;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function isFrozen(set: CgroupSet): Promise<boolean> {
  if (!set.freezer) return false;
  try {
    if (set.mode === "v2") return (await readTrim(join(set.freezer, "cgroup.freeze"))) === "1";
    return (await readTrim(join(set.freezer, "freezer.state"))) !== "THAWED";
  } catch {
    return false;
  }
}

async function frozenNow(set: CgroupSet, freezer: string): Promise<boolean> {
  if (set.mode === "v2") return /^frozen 1$/m.test(await readFile(join(freezer, "cgroup.events"), "utf8"));
  return (await readTrim(join(freezer, "freezer.state"))) === "FROZEN";
}

/** Freezes every process of the group and waits until the kernel reports it frozen. */
export async function freeze(set: CgroupSet, timeoutMs = 5000): Promise<void> {
  const freezer = set.freezer;
  if (!freezer) throw new Error("cgroup set has no freezer");
  const file = set.mode === "v2" ? "cgroup.freeze" : "freezer.state";
  const value = set.mode === "v2" ? "1" : "FROZEN";
  const deadline = Date.now() + timeoutMs;
  for (let delay = 2; ; delay = Math.min(delay * 2, 50)) {
    // v1 may stay FREEZING when a task is busy in the kernel; writing again retries it.
    await writeFile(join(freezer, file), value);
    if (await frozenNow(set, freezer)) return;
    if (Date.now() > deadline) {
      await thaw(set);
      throw new Error(`cgroup ${freezer} did not freeze within ${timeoutMs} ms`);
    }
    await sleep(delay);
  }
}

export async function thaw(set: CgroupSet): Promise<void> {
  if (!set.freezer) return;
  try {
    if (set.mode === "v2") await writeFile(join(set.freezer, "cgroup.freeze"), "0");
    else await writeFile(join(set.freezer, "freezer.state"), "THAWED");
  } catch (err) {
    if (errCode(err) !== "ENOENT") throw err;
  }
}

/** Kills whatever is left in the groups and removes them; a missing group is success. */
export async function removeCgroup(set: CgroupSet, timeoutMs = 5000): Promise<void> {
  // A frozen v1 task cannot die, so thaw before killing.
  await thaw(set);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pids = await cgroupPids(set);
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
    let busy = false;
    const dirs: string[] = [];
    for (const top of [...dirsOf(set), ...(await otherHierarchies(set))]) dirs.push(...(await subtree(top)));
    for (const dir of dirs) {
      try {
        await rmdir(dir);
      } catch (err) {
        const code = errCode(err);
        if (code === "ENOENT") continue;
        if (code !== "EBUSY") throw err;
        busy = true;
      }
    }
    if (!busy) return;
    if (Date.now() > deadline) throw new Error(`cgroup ${set.cpu} still busy after ${timeoutMs} ms`);
    await sleep(20);
  }
}

/** Child group names of a parent directory (used to find leftovers). */
export async function childGroups(parentDir: string): Promise<string[]> {
  try {
    return (await readdir(parentDir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return [];
  }
}
