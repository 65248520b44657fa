// One mutating call per instance at a time, across workers: a lock created exclusively in the
// instance directory, naming the owner's pid and start time so a lock left by a crashed worker is
// taken over instead of blocking forever. Calls within one process queue in memory. The lock is a
// symbolic link whose target is the owner: made in one step, and it needs no data written, so a
// satellite whose disk is full can still be terminated (a lock file written to failed there with
// ENOSPC, and the daemon ran on).
import { lstat, readFile, readlink, symlink, unlink } from "node:fs/promises";
import { join } from "node:path";
import { processStatus } from "./local-process.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let selfStartTime: string | null = null;

async function selfIdentity(): Promise<string> {
  if (selfStartTime === null) {
    const raw = await readFile("/proc/self/stat", "utf8");
    selfStartTime = raw.slice(raw.lastIndexOf(")") + 2).split(" ")[19] ?? "0";
  }
  return `${process.pid} ${selfStartTime}`;
}

async function ownerAlive(content: string): Promise<boolean> {
  const [pid, startTime] = content.trim().split(" ");
  if (!pid || !startTime) return false;
  return (await processStatus({ pid: Number(pid), startTime })) !== "dead";
}

async function olderThan(file: string, ms: number): Promise<boolean> {
  try {
    return Date.now() - (await lstat(file)).mtimeMs > ms;
  } catch {
    return false;
  }
}

/** The owner a lock names: a link's target, or (a lock file from an earlier version) its text. */
async function ownerOf(file: string): Promise<string> {
  try {
    return await readlink(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EINVAL") throw err;
    return readFile(file, "utf8");
  }
}

/** Takes `<dir>/lock`; null when the directory does not exist (the instance is gone). */
async function acquire(dir: string, timeoutMs: number): Promise<(() => Promise<void>) | null> {
  const file = join(dir, "lock");
  const me = await selfIdentity();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await symlink(me, file);
      return () => unlink(file).catch(() => undefined);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return null;
      if (code !== "EEXIST") throw err;
    }
    let owner: string;
    try {
      owner = await ownerOf(file);
    } catch {
      continue;
    }
    // Empty (a lock file of an earlier version): its owner was between open and write, unless that
    // was long ago (it died there).
    const stale = owner === "" ? await olderThan(file, 5000) : !(await ownerAlive(owner));
    if (stale) {
      await unlink(file).catch(() => undefined);
      continue;
    }
    if (Date.now() > deadline) throw new Error(`instance lock ${file} held by ${owner || "?"} for over ${timeoutMs} ms`);
    await sleep(20);
  }
}

const queues = new Map<string, Promise<unknown>>();

/** Runs `fn` holding the instance lock; `fn` gets false when the instance directory is gone. */
export function withInstanceLock<T>(dir: string, fn: (locked: boolean) => Promise<T>, timeoutMs = 60_000): Promise<T> {
  const previous = queues.get(dir) ?? Promise.resolve();
  const run = previous
    .catch(() => undefined)
    .then(async () => {
      const release = await acquire(dir, timeoutMs);
      try {
        return await fn(release !== null);
      } finally {
        await release?.();
      }
    });
  queues.set(dir, run);
  const forget = () => {
    if (queues.get(dir) === run) queues.delete(dir);
  };
  run.then(forget, forget);
  return run;
}
