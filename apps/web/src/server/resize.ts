// Changing a satellite's size or platform. The web only records intents; applying a new
// instance type needs a stopped machine and a jobs-worker step that does not exist yet.
// Until `@satellites/lifecycle` exports `requestResize` (same contract as below), a resize
// is refused with a message saying so; the router's validation, permissions and state rules
// are final and tested.
//
// Contract wanted from lifecycle:
//   requestResize(db, queues, satellite, { size, platform, force, actor }) →
//     asleep:          asleep→updating (cause manual, set size/platform, memory limit clamped),
//                      enqueue a resize job; the job modifies the instance, → asleep.
//     awake + force:   requestSleep(cause manual) with a flag so the resize follows `asleep`.
import type { PlatformName, SizeName } from "@satellites/catalog";
import type { Db, Satellite } from "@satellites/db";
import type { SatelliteQueues } from "@satellites/queue";

export type ResizeOutcome = { kind: "resizing"; satellite: Satellite } | { kind: "refused"; reason: string };

export interface ResizeRequest {
  size: SizeName;
  platform: PlatformName;
  force: boolean;
  actor: string;
}

export type RequestResize = (db: Db, queues: SatelliteQueues, satellite: Satellite, req: ResizeRequest) => Promise<ResizeOutcome>;

export const requestResize: RequestResize = async () => ({
  kind: "refused",
  reason: "Changing the size or platform is not supported by this server's jobs worker yet",
});
