// The satellite process itself: a detached process group started through a tiny shell wrapper
// that first joins the satellite's cgroups and sets its oom_score_adj, then execs the program,
// so nothing the program does ever runs unconfined. Liveness comes from /proc and is checked
// against the recorded start time, so a recycled pid is never mistaken for (or killed as) ours.
import { execFile, spawn } from "node:child_process";
import { createReadStream, createWriteStream } from "node:fs";
import { appendFile, copyFile, type FileHandle, open, readFile, readdir, rename, stat, truncate } from "node:fs/promises";
import { basename } from "node:path";
import { pipeline } from "node:stream/promises";
import { errno } from "./local-errors.ts";

export interface ProcessRef {
  pid: number;
  /** /proc/<pid>/stat start time (clock ticks since boot): pid + this identify the process. */
  startTime: string;
}

/** alive, stopped by a signal (SIGSTOP), exiting (killed, threads still tearing down), or gone. */
export type ProcessStatus = "alive" | "stopped" | "exiting" | "dead";

/** Whether the process is there to resume, freeze or signal (not dead or on its way out). */
export function present(status: ProcessStatus): boolean {
  return status === "alive" || status === "stopped";
}

interface ProcStat {
  state: string;
  startTime: string;
}

async function procStat(pid: number): Promise<ProcStat | null> {
  let raw: string;
  try {
    raw = await readFile(`/proc/${pid}/stat`, "utf8");
  } catch {
    return null;
  }
  // The command name (field 2) may contain spaces and parentheses: split after the last ")".
  const rest = raw.slice(raw.lastIndexOf(")") + 2).split(" ");
  const state = rest[0];
  const startTime = rest[19];
  if (state === undefined || startTime === undefined) return null;
  return { state, startTime };
}

async function liveThreads(pid: number): Promise<number> {
  try {
    return (await readdir(`/proc/${pid}/task`)).length;
  } catch {
    return 0;
  }
}

export async function processStatus(ref: ProcessRef | null): Promise<ProcessStatus> {
  if (!ref) return "dead";
  const stat = await procStat(ref.pid);
  if (!stat || stat.startTime !== ref.startTime) return "dead";
  if (stat.state === "X" || stat.state === "x") return "dead";
  // A killed multi-threaded process shows its leader as a zombie while other threads still
  // tear down (its sockets stay open until the last one is gone), so Z alone is not "dead".
  if (stat.state === "Z") return (await liveThreads(ref.pid)) > 1 ? "exiting" : "dead";
  return stat.state === "T" ? "stopped" : "alive";
}

/** Signals the whole process group (the satellite's children too), else just the process. */
export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // Already gone.
    }
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function waitStatus(
  ref: ProcessRef,
  wanted: (s: ProcessStatus) => boolean,
  timeoutMs: number,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 2; ; delay = Math.min(delay * 2, 50)) {
    if (wanted(await processStatus(ref))) return true;
    if (Date.now() > deadline) return false;
    await sleep(delay);
  }
}

/** SIGTERM the group, SIGKILL after `graceMs`; resolves once the process is gone. */
export async function terminateProcess(ref: ProcessRef, graceMs: number): Promise<void> {
  if ((await processStatus(ref)) === "dead") return;
  signalGroup(ref.pid, "SIGTERM");
  // A SIGSTOPped process only acts on SIGTERM once continued.
  signalGroup(ref.pid, "SIGCONT");
  if (await waitStatus(ref, (s) => s === "dead", graceMs)) return;
  signalGroup(ref.pid, "SIGKILL");
  if (!(await waitStatus(ref, (s) => s === "dead", 5000))) throw new Error(`pid ${ref.pid} survived SIGKILL`);
}

export interface SpawnOptions {
  /** Shell command line of the program (already rendered: {host}/{port} substituted). */
  command: string;
  cwd: string;
  logFile: string;
  /** Rotate the log first once past this (default LOG_ROTATE_BYTES). */
  logLimitBytes?: number;
  env: Record<string, string>;
  /** cgroup.procs files to join before exec; empty when no cgroup is used. */
  procsFiles: string[];
  oomScoreAdj: number;
  /** Resolves once the pid shows up in the cgroups; the wrapper writes them before exec. */
  joined?: (pid: number) => Promise<boolean>;
}

// $@ holds the cgroup.procs files. A failed cgroup write aborts (never run unconfined); a failed
// oom_score_adj write (e.g. a negative value without privilege) is only reported.
const JOIN_FAILED = 97;
const WRAPPER = [
  `for f in "$@"; do echo $$ > "$f" || { echo "satellite: cannot join cgroup $f" >&2; exit ${JOIN_FAILED}; }; done`,
  'echo "$SATELLITE_OOM_SCORE_ADJ" > /proc/$$/oom_score_adj 2>/dev/null || echo "satellite: cannot set oom_score_adj" >&2',
  "unset SATELLITE_OOM_SCORE_ADJ",
].join("\n");

async function logTail(file: string): Promise<string> {
  try {
    return (await readFile(file, "utf8")).trim().split("\n").slice(-5).join(" | ");
  } catch {
    return "";
  }
}

/** Past this size a satellite's log is rotated (one older file is kept). */
export const LOG_ROTATE_BYTES = 16 << 20;

const sizeOf = (file: string): Promise<number> => stat(file).then((s) => s.size, () => 0);

/** Moves `file` to `file.1` (replacing it) once it has grown past `limit`: a log never fills the disk across restarts. */
export async function rotateLog(file: string, limit = LOG_ROTATE_BYTES): Promise<void> {
  if ((await sizeOf(file)) > limit) await rename(file, `${file}.1`);
}

/**
 * Rotation for a log a running satellite is still writing: its descriptor follows a renamed
 * file, so the content is copied to `file.1` and then cut from the front of the file in place
 * (the satellite opened it O_APPEND, so it goes on writing at the new end). Where the filesystem
 * can (ext4, XFS), the cut is fallocate's collapse-range over the copied whole blocks, so what
 * the satellite writes meanwhile stays in the file; the two files then split the output at a
 * block boundary, possibly inside a line. Elsewhere (tmpfs, or a log of one block) it falls
 * back to logrotate's copytruncate, which loses what is written between the copy and the
 * truncate. Returns whether it rotated.
 */
export async function trimLog(file: string, limit = LOG_ROTATE_BYTES): Promise<boolean> {
  const st = await stat(file).catch(() => undefined);
  if (!st || st.size <= limit) return false;
  // Whole blocks only, and never up to the end: collapse-range refuses a range reaching EOF.
  const block = st.blksize || 4096;
  const cut = st.size - 1 - ((st.size - 1) % block);
  const older = `${file}.1`;
  if (!(cut > 0 && (await collapseFront(file, older, cut)))) {
    await copyFile(file, older);
    await truncate(file, 0);
  }
  await appendFile(file, `--- ${new Date().toISOString()} log passed ${Math.round(limit / 1024)} KiB; the earlier part is in ${basename(older)}\n`);
  return true;
}

/** Copies the first `n` bytes of `file` to `older` and removes them from `file`; false when the filesystem cannot. */
async function collapseFront(file: string, older: string, n: number): Promise<boolean> {
  await pipeline(createReadStream(file, { start: 0, end: n - 1 }), createWriteStream(older));
  return new Promise((resolve) => {
    // util-linux's fallocate(1): Node has no binding for fallocate(2)'s modes.
    execFile("fallocate", ["--collapse-range", "--offset", "0", "--length", String(n), file], (err) => resolve(!err));
  });
}

/**
 * The log a start appends to, its first line written: the marker diagnose() (local-inspect.ts)
 * reads back, after which everything is this start's. On a full disk, where that line finds no
 * room, the log moves to `.1` first (the older one goes): the process's words then start a file
 * of their own, never read as an earlier start's, marker or not.
 */
async function openStartLog(file: string, marker: string): Promise<FileHandle> {
  const log = await open(file, "a");
  try {
    await log.write(marker);
    return log;
  } catch (err) {
    await log.close();
    if (errno(err) !== "ENOSPC") throw err;
  }
  await rename(file, `${file}.1`);
  const fresh = await open(file, "a");
  await fresh.write(marker).catch(() => undefined);
  return fresh;
}

/** Starts the program detached (it outlives this process) and returns once it is confined. */
export async function spawnSatellite(opts: SpawnOptions): Promise<ProcessRef> {
  await rotateLog(opts.logFile, opts.logLimitBytes);
  const log = await openStartLog(opts.logFile, `--- ${new Date().toISOString()} starting: ${opts.command}\n`);
  let pid: number;
  let exit: Promise<string>;
  try {
    const child = spawn("/bin/sh", ["-c", `${WRAPPER}\nexec ${opts.command}`, "satellite", ...opts.procsFiles], {
      cwd: opts.cwd,
      env: { ...opts.env, SATELLITE_OOM_SCORE_ADJ: String(opts.oomScoreAdj) },
      detached: true,
      stdio: ["ignore", log.fd, log.fd],
    });
    exit = new Promise((resolve) => child.once("exit", (code, signal) => resolve(signal ?? `exit code ${code}`)));
    const spawnError = new Promise<Error>((resolve) => child.once("error", resolve));
    if (child.pid === undefined) throw await spawnError;
    pid = child.pid;
    // Not ours to wait for: the satellite keeps running when this worker goes away.
    child.unref();
  } finally {
    await log.close();
  }
  // Gone already: the wrapper failing to join (exit 97) is a spawn failure; any other exit means
  // the program itself ran and ended, which the health check and describe report.
  const ended = async (): Promise<void> => {
    const how = await Promise.race([exit, sleep(1000).then(() => "unknown")]);
    if (how === `exit code ${JOIN_FAILED}`) throw new Error(`satellite could not join its cgroup: ${await logTail(opts.logFile)}`);
  };
  const stat = await procStat(pid);
  const ref = { pid, startTime: stat?.startTime ?? "gone" };
  if (!stat) {
    await ended();
    return ref;
  }
  if (opts.joined) {
    const deadline = Date.now() + 5000;
    for (let delay = 1; !(await opts.joined(pid)); delay = Math.min(delay * 2, 20)) {
      if ((await processStatus(ref)) === "dead") {
        await ended();
        break;
      }
      if (Date.now() > deadline) {
        signalGroup(pid, "SIGKILL");
        throw new Error("satellite did not join its cgroup within 5 s");
      }
      await sleep(delay);
    }
  }
  return ref;
}
