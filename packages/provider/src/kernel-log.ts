// The kernel's OOM kills, from its log (/dev/kmsg): which process, in which cgroup, whose limit.
// cgroup v1 counts a kill only in the killed process's own group — a build step's, which
// BuildKit removes when the step ends — so the log is the one record on every host that says a
// satellite's build step was killed for memory. Read without blocking: each read() of
// /dev/kmsg returns one record, EAGAIN once none are left; the first reads return what the ring
// buffer still holds (the receiver keeps count by the kill's id, boot id and sequence number).
import { constants } from "node:fs";
import { type FileHandle, open, readFile } from "node:fs/promises";

export interface OomKill {
  /** Unique across boots: `<boot id>:<sequence number>`. */
  id: string;
  at: Date;
  /** The group whose limit was hit (a memcg OOM), or null when the whole host ran out. */
  limitGroup: string | null;
  /** The killed process's group. */
  taskGroup: string;
  process: string;
  pid: number;
}

export interface KernelLog {
  /** The OOM kills logged since the last call (the first: since boot, as far as the buffer goes). */
  oomKills(): Promise<OomKill[]>;
  close(): Promise<void>;
}

/** A kmsg record: "<prio>,<seq>,<µs since boot>,<flags>[,…];<message>", then " KEY=value" lines. */
const RECORD = /^\d+,(\d+),(\d+),[^;]*;(.*)$/m;
const OOM_KILL = /^oom-kill:constraint=([A-Z_]+),.*?(?:,oom_memcg=([^,]*))?,task_memcg=([^,]*),task=(.*),pid=(\d+),uid=\d+$/;
/** Longer records are truncated by the kernel to what the buffer holds; 8 KiB is its own limit. */
const RECORD_MAX = 8192;

/** Parses one record; null unless it is an oom-kill line. */
export function parseOomKill(record: string, bootId: string, bootMs: number): OomKill | null {
  const r = RECORD.exec(record);
  const m = r ? OOM_KILL.exec(r[3]!) : null;
  if (!r || !m) return null;
  return {
    id: `${bootId}:${r[1]}`,
    at: new Date(bootMs + Math.floor(Number(r[2]) / 1000)),
    limitGroup: m[1] === "CONSTRAINT_MEMCG" ? (m[2] ?? null) : null,
    taskGroup: m[3]!,
    process: m[4]!,
    pid: Number(m[5]),
  };
}

/**
 * The wall-clock time (ms) at which the kernel log's clock read 0, as of now. That clock, like
 * CLOCK_MONOTONIC (what process.hrtime reads on Linux), stops while the host is suspended, and
 * the wall clock can be stepped: so this is taken at every read, never once, and not from
 * /proc/uptime (which counts suspended time). The EC2 watch does the same (user-data.ts).
 */
export function logClockOrigin(): number {
  return Date.now() - Number(process.hrtime.bigint() / 1_000_000n);
}

/** Opens the kernel log; null where it cannot be read (no CAP_SYSLOG, a container). `origin`: see logClockOrigin. */
export async function openKernelLog(path = "/dev/kmsg", origin: () => number = logClockOrigin): Promise<KernelLog | null> {
  let fh: FileHandle;
  let bootId: string;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
    bootId = (await readFile("/proc/sys/kernel/random/boot_id", "utf8")).trim();
  } catch {
    return null;
  }
  const buf = Buffer.alloc(RECORD_MAX);
  return {
    async oomKills() {
      const bootMs = origin();
      const kills: OomKill[] = [];
      for (;;) {
        let n: number;
        try {
          n = (await fh.read(buf, 0, buf.length, null)).bytesRead;
        } catch (err) {
          // EPIPE: records were overwritten before we read them; the next read goes on after them.
          if ((err as NodeJS.ErrnoException).code === "EPIPE") continue;
          if ((err as NodeJS.ErrnoException).code === "EAGAIN") return kills;
          throw err;
        }
        if (n === 0) return kills;
        const kill = parseOomKill(buf.toString("utf8", 0, n), bootId, bootMs);
        if (kill) kills.push(kill);
      }
    },
    close: () => fh.close(),
  };
}
