// What the local provider remembers about an instance, on disk under `<dataDir>/<instanceId>/`
// so a restarted (or another) jobs worker picks it up. Writes are atomic (temp file + rename):
// a reader sees the old state or the new one, never half of it.
import { randomBytes } from "node:crypto";
import { mkdir, open, readFile, readdir, rename, rm, stat, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Limits } from "@satellites/catalog";
import type { CgroupSet } from "./cgroup.ts";
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
    const target = this.file(state.instanceId);
    const temp = `${target}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
    const handle = await open(temp, "w");
    try {
      await handle.writeFile(`${JSON.stringify(state, null, 2)}\n`);
      // Data on disk before the rename makes it visible, so a crash cannot leave an empty file.
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await rename(temp, target);
    } catch (err) {
      await unlink(temp).catch(() => undefined);
      throw err;
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
