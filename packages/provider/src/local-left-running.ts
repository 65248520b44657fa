// The local satellites whose processes are still there when the control plane stops. They are
// machines and outlive it (local.ts), as EC2 instances do: an awake one keeps its daemon running,
// an asleep one stays frozen in memory, and the next start takes them over. `npm start` names them
// as it stops, so that a BuildKit daemon left running after Ctrl-C is said, not discovered.
import { present, processStatus } from "./local-process.ts";
import { StateStore } from "./local-state.ts";

export interface LeftRunning {
  satelliteId: string;
  name: string;
  /** Asleep (hibernated: its process frozen, its memory kept), not running. */
  frozen: boolean;
}

/** The satellites under `dataDir` (LOCAL_DATA_DIR) whose processes are present, running or frozen. */
export async function localSatellitesLeft(dataDir: string): Promise<LeftRunning[]> {
  const store = new StateStore(dataDir);
  const left: LeftRunning[] = [];
  for (const id of await store.list()) {
    const s = await store.read(id).catch(() => null);
    if (!s?.pid || !s.startTime) continue;
    const status = await processStatus({ pid: s.pid, startTime: s.startTime });
    // Hibernated by the cgroup freezer (or SIGSTOP where there is none): asleep, in memory.
    if (present(status)) left.push({ satelliteId: s.spec.satelliteId, name: s.spec.name, frozen: s.desired === "hibernated" || status === "stopped" });
  }
  return left;
}
