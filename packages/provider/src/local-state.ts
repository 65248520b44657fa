// What the local provider remembers about an instance, on disk under `<dataDir>/<instanceId>/`
// so a restarted (or another) jobs worker picks it up. Writes are atomic (temp file + rename):
// a reader sees the old state or the new one, never half of it. Each instance keeps a little
// room of its own (`state.reserve`): on a full disk — its cache, a build, another satellite —
// a write gives it up, lands, and takes it back from the old state's freed blocks, so sleep,
// wake and limits go on working (before it, the idle sleep failed until the satellite was
// marked failed).
import { randomBytes } from "node:crypto";
import { mkdir, open, readFile, readdir, rename, rm, stat, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Limits } from "@satellites/catalog";
import type { CgroupSet } from "./cgroup.ts";
import { errno } from "./local-errors.ts";
import type { LaunchSpec } from "./types.ts";

export interface LocalState {
  version: 1;
  instanceId: string;
  spec: LaunchSpec;
  host: string;
  port: number;
  /** The running process; null once stopped. */
  pid: number | null;
  startTime: string | null;
  cgroup: CgroupSet | null;
  /** What the last call asked for; a dead process with `running` here crashed. */
  desired: "running" | "stopped" | "hibernated";
  limits: Limits;
  createdAt: string;
  updatedAt: string;
  crashes: number;
  lastCrashAt: string | null;
  /** The command line the running process was started with (absent in older state files). */
  command?: string | null;
}

const ID_PATTERN = /^local-[0-9a-f]{12}$/;

/** Room for a few state files: one is a couple of KiB, in 4 KiB blocks (tmpfs, ext4). */
const STATE_RESERVE_BYTES = 64 * 1024;

export function newInstanceId(): string {
  return `local-${randomBytes(6).toString("hex")}`;
}

/** Ids come back from the database; anything else must never become a path. */
export function validInstanceId(id: string): boolean {
  return ID_PATTERN.test(id);
}

export class StateStore {
  constructor(readonly dataDir: string) {}

  dir(id: string): string {
    return join(this.dataDir, id);
  }

  private file(id: string): string {
    return join(this.dir(id), "state.json");
  }

  private reserve(id: string): string {
    return join(this.dir(id), "state.reserve");
  }

  private tombstone(id: string): string {
    return join(this.dataDir, ".terminated", id);
  }

  /** Creates the instance directory; fails if it exists. */
  async create(id: string): Promise<string> {
    await mkdir(this.dataDir, { recursive: true });
    await mkdir(this.dir(id));
    return this.dir(id);
  }

  async read(id: string): Promise<LocalState | null> {
    if (!validInstanceId(id)) return null;
    try {
      return JSON.parse(await readFile(this.file(id), "utf8")) as LocalState;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw err;
    }
  }

  async write(state: LocalState): Promise<void> {
    state.updatedAt = new Date().toISOString();
    const body = `${JSON.stringify(state, null, 2)}\n`;
    try {
      await this.replace(state.instanceId, body);
    } catch (err) {
      // Full: the instance's own room makes space for this one write.
      if (errno(err) !== "ENOSPC" || !(await unlink(this.reserve(state.instanceId)).then(() => true, () => false))) throw err;
      await this.replace(state.instanceId, body);
    }
    await this.keepReserve(state.instanceId);
  }

  private async replace(id: string, body: string): Promise<void> {
    const target = this.file(id);
    const temp = `${target}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
    try {
      const handle = await open(temp, "w");
      try {
        await handle.writeFile(body);
        // Data on disk before the rename makes it visible, so a crash cannot leave an empty file.
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, target);
    } catch (err) {
      await unlink(temp).catch(() => undefined);
      throw err;
    }
  }

  /**
   * Puts the instance's room back when it is gone (used, or an instance from before it existed).
   * Zeros written, not a sparse file: the blocks must really be held. On a disk with less free
   * than that it waits for the next write.
   */
  private async keepReserve(id: string): Promise<void> {
    const file = this.reserve(id);
    if ((await stat(file).then((st) => st.size, () => -1)) === STATE_RESERVE_BYTES) return;
    try {
      await writeFile(file, Buffer.alloc(STATE_RESERVE_BYTES));
    } catch (err) {
      await unlink(file).catch(() => undefined);
      if (errno(err) !== "ENOSPC") throw err;
    }
  }

  /** Whether the instance directory exists (it may lack a state file after a crashed launch). */
  async exists(id: string): Promise<boolean> {
    if (!validInstanceId(id)) return false;
    try {
      return (await stat(this.dir(id))).isDirectory();
    } catch {
      return false;
    }
  }

  /**
   * Removes the instance directory and leaves a tombstone, so describe says "terminated". The
   * tombstone is empty (its time is its mtime): on a disk full for other reasons, a file with
   * no data can still be made.
   */
  async remove(id: string): Promise<void> {
    await rm(this.dir(id), { recursive: true, force: true });
    await mkdir(join(this.dataDir, ".terminated"), { recursive: true });
    await writeFile(this.tombstone(id), "");
  }

  async terminated(id: string): Promise<boolean> {
    try {
      await stat(this.tombstone(id));
      return true;
    } catch {
      return false;
    }
  }

  /** Instance ids with a directory under the data dir. */
  async list(): Promise<string[]> {
    try {
      return (await readdir(this.dataDir, { withFileTypes: true }))
        .filter((e) => e.isDirectory() && validInstanceId(e.name))
        .map((e) => e.name)
        .sort();
    } catch {
      return [];
    }
  }
}
