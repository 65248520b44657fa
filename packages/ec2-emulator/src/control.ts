// The emulator's control API: inspect instances, inject faults, tune throttling and timings.
// The same methods are served over HTTP (POST /_emulator/<method>, JSON array of arguments) so
// a test in another process can drive an emulator started from the CLI.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { ErrorFault } from "./faults.ts";
import type { InstanceFaults, InstanceSnapshot, Timings } from "./instances.ts";
import type { ThrottleClass, TokenRate } from "./throttle.ts";

export interface Stats {
  /** Requests received per action (throttled and failed ones included). */
  requests: Record<string, number>;
  /** Requests answered RequestLimitExceeded, per action. */
  throttled: Record<string, number>;
  /** Requests answered with any EC2 error, per action. */
  errors: Record<string, number>;
}

export interface EmulatorControl {
  instances(): InstanceSnapshot[];
  instance(instanceId: string): InstanceSnapshot | null;
  /** The tail of the instance's process output. */
  logs(instanceId: string): string;
  /** Fail the next matching calls with an EC2 error (InsufficientInstanceCapacity on run/start by default). */
  failNext(fault: ErrorFault): void;
  /** InsufficientInstanceCapacity on the next `count` RunInstances/StartInstances calls. */
  insufficientCapacity(count?: number): void;
  /** Boot faults for an instance id, "next" (the next launch) or "*" (all); null clears. */
  setInstanceFaults(target: string, faults: InstanceFaults | null): void;
  /** Replace one throttle class's bucket (full); null disables throttling for it. */
  setThrottle(cls: ThrottleClass, rate: TokenRate | null): void;
  /** Empty a bucket now: the next call of that class is throttled unless it refilled. */
  drainBucket(cls: ThrottleClass): void;
  setTimings(timings: Partial<Timings>): void;
  stats(): Stats;
  /** When each request of `action` arrived (ms since the epoch; the latest 10,000), to measure rates over windows. */
  requestTimes(action: string): number[];
  /** Clear faults and statistics. */
  reset(): void;
}

const METHODS: readonly (keyof EmulatorControl)[] = [
  "instances",
  "instance",
  "logs",
  "failNext",
  "insufficientCapacity",
  "setInstanceFaults",
  "setThrottle",
  "drainBucket",
  "setTimings",
  "stats",
  "requestTimes",
  "reset",
];

export const CONTROL_PREFIX = "/_emulator/";

export type RemoteControl = {
  [K in keyof EmulatorControl]: (...args: Parameters<EmulatorControl[K]>) => Promise<ReturnType<EmulatorControl[K]>>;
};

const isMethod = (name: string): name is keyof EmulatorControl => (METHODS as readonly string[]).includes(name);

/** Serves `POST /_emulator/<method>` with a JSON array of arguments; answers `{ result }` or `{ error }`. */
export async function serveControl(control: EmulatorControl, req: IncomingMessage, res: ServerResponse, body: string): Promise<void> {
  const name = (req.url ?? "").slice(CONTROL_PREFIX.length).split("?")[0] ?? "";
  const reply = (status: number, payload: unknown): void => {
    res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(payload));
  };
  if (!isMethod(name)) return reply(404, { error: `unknown control method ${JSON.stringify(name)}` });
  let args: unknown;
  try {
    args = body ? JSON.parse(body) : [];
  } catch {
    return reply(400, { error: "body must be a JSON array of arguments" });
  }
  if (!Array.isArray(args)) return reply(400, { error: "body must be a JSON array of arguments" });
  try {
    const method = control[name] as (...a: unknown[]) => unknown;
    const result = await method.apply(control, args);
    reply(200, { result: result ?? null });
  } catch (err) {
    reply(400, { error: err instanceof Error ? err.message : String(err) });
  }
}

/** A typed client for an emulator's HTTP control endpoint (e.g. one started with the CLI). */
export function connectControl(endpoint: string): RemoteControl {
  const call = async (name: string, args: unknown[]): Promise<unknown> => {
    const res = await fetch(new URL(`${CONTROL_PREFIX}${name}`, endpoint), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(args),
    });
    const payload = (await res.json()) as { result?: unknown; error?: string };
    if (!res.ok) throw new Error(`emulator control ${name}: ${payload.error ?? res.status}`);
    return payload.result;
  };
  return Object.fromEntries(METHODS.map((name) => [name, (...args: unknown[]) => call(name, args)])) as RemoteControl;
}
