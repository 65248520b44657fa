// The local provider where no cgroup is writable (cgroupRoot points at a plain directory):
// satellites still run, hibernate is SIGSTOP/SIGCONT, and limits are reported as not enforced.
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { probeHealth, waitHealthy } from "@satellites/backend";
import type { Limits } from "@satellites/catalog";
import { createLocalProvider, type LocalProvider } from "../src/local.ts";
import type { LocalState } from "../src/local-state.ts";

const read = async (file: string) => (await readFile(file, "utf8")).trim();
const procState = async (pid: number) => {
  try {
    const stat = await read(`/proc/${pid}/stat`);
    const state = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
    // A zombie has exited; only its parent's reaping is pending.
    return state === "Z" ? "gone" : state;
  } catch {
    return "gone";
  }
};

const limits: Limits = {
  cpuPercent: 50,
  memoryMiB: 512,
  swapMiB: 0,
  diskGiB: 20,
  oomScoreAdj: 300,
  idleTimeoutSeconds: 60,
};

describe("local provider without writable cgroups", () => {
  let dataDir: string;
  let fakeCgroupRoot: string;
  let provider: LocalProvider;
  let id = "";
  let upstream = "";
  let pid = 0;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "local-fallback-"));
    fakeCgroupRoot = await mkdtemp(join(tmpdir(), "no-cgroup-"));
    provider = createLocalProvider({ dataDir, cgroupRoot: fakeCgroupRoot, portRange: [23200, 23299], stopGraceMs: 5000 });
  });

  afterAll(async () => {
    for (const leftover of await provider.list()) await provider.terminate(leftover);
    await rm(dataDir, { recursive: true, force: true });
    await rm(fakeCgroupRoot, { recursive: true, force: true });
  });

  it("launches unconfined and says limits are not enforced", async () => {
    expect((await provider.cgroupMode()).mode).toBe("none");
    const launched = await provider.launch({
      satelliteId: "sat-fallback",
      orgId: "org-1",
      name: "fallback",
      platform: "arm64",
      size: "xsmall",
      limits,
      hibernate: true,
    });
    expect(launched).toMatchObject({ hibernate: true, limitsEnforced: false });
    id = launched.instanceId;
    upstream = (await provider.describe(id)).upstream ?? "";
    expect(upstream).toMatch(/^127\.0\.0\.1:232\d\d$/);
    expect(await waitHealthy(upstream, { totalMs: 20_000 })).toBe(true);
    const s = JSON.parse(await read(join(dataDir, id, "state.json"))) as LocalState;
    expect(s.cgroup).toBeNull();
    pid = s.pid ?? 0;
    // Nothing was created under the fake root while probing it.
    expect(await readdir(fakeCgroupRoot)).toEqual([]);
    if (process.getuid?.() === 0) expect(await read(`/proc/${pid}/oom_score_adj`)).toBe("300");
  });

  it("hibernates with SIGSTOP and resumes the same process with SIGCONT", async () => {
    await provider.stop(id, { hibernate: true });
    expect(await procState(pid)).toBe("T");
    expect(await provider.describe(id)).toEqual({ instanceId: id, state: "hibernated", upstream: null });
    expect(await probeHealth(upstream, { timeoutMs: 500 })).toBe("UNREACHABLE");
    await provider.stop(id, { hibernate: true });

    expect(await provider.start(id)).toEqual({ instanceId: id, state: "running", upstream, resumed: true });
    expect(await procState(pid)).not.toBe("T");
    expect(await probeHealth(upstream, { timeoutMs: 2000 })).toBe("SERVING");
  });

  it("saves limits but reports them not enforced", async () => {
    const next = { ...limits, cpuPercent: 30, oomScoreAdj: 100 };
    expect(await provider.applyLimits(id, next, { platform: "arm64", size: "xsmall" })).toEqual({
      applied: true,
      enforced: false,
      // The OOM score needs no cgroup: it is applied.
      oomScoreEnforced: true,
    });
    if (process.getuid?.() === 0) expect(await read(`/proc/${pid}/oom_score_adj`)).toBe("100");
  });

  it("stops a hibernated (SIGSTOPped) process and starts it again on the same port", async () => {
    await provider.stop(id, { hibernate: true });
    await provider.stop(id, { hibernate: false });
    expect(await procState(pid)).toBe("gone");
    expect((await provider.describe(id)).state).toBe("stopped");
    expect((await provider.start(id)).upstream).toBe(upstream);
    expect(await waitHealthy(upstream, { totalMs: 20_000 })).toBe(true);
    await provider.start(id);
  });

  it("terminates idempotently", async () => {
    const s = JSON.parse(await read(join(dataDir, id, "state.json"))) as LocalState;
    await provider.terminate(id);
    expect(await procState(s.pid ?? 0)).toBe("gone");
    expect((await provider.describe(id)).state).toBe("terminated");
    await provider.terminate(id);
    expect(await provider.list()).toEqual([]);
  });
});
