// A build step killed for memory, for real: a child group of `group` (as BuildKit makes one per
// RUN step) running dd with a 64 MiB buffer. Returns the signal that ended it ("SIGKILL" when the
// kernel's OOM killer did), or "finished" when the limit let it through.
import { execFile } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import type { CgroupSet } from "../src/cgroup.ts";

const run = promisify(execFile);

export async function memoryHogInStep(group: CgroupSet): Promise<string | undefined> {
  const step = join(group.memory, "step");
  await mkdir(step);
  return run("sh", ["-c", `echo $$ > ${step}/cgroup.procs && exec dd if=/dev/zero of=/dev/null bs=64M count=1`]).then(
    () => "finished",
    (err: { signal?: string }) => err.signal,
  );
}
