// The emulator's HTTP server: EC2 Query API requests (form-encoded POST) go through throttling,
// injected faults and then the actions; /_emulator/* is the control endpoint.
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Ec2Actions, isAction } from "./actions.ts";
import { LoopbackAddresses } from "./addresses.ts";
import { CONTROL_PREFIX, serveControl, type EmulatorControl, type Stats } from "./control.ts";
import { Ec2Error } from "./errors.ts";
import { Faults } from "./faults.ts";
import { DEFAULT_IMAGES, type ImageInfo } from "./images.ts";
import { DEFAULT_TIMINGS, Fleet, snapshot, type Timings } from "./instances.ts";
import { type EmulatedRoute, EmulatedNetwork } from "./network.ts";
import { Params } from "./query.ts";
import { Throttle, type ThrottleClass, type TokenRate } from "./throttle.ts";
import { actionResponse, errorResponse } from "./xml.ts";

export interface EmulatorOptions {
  /** HTTP port of the API; 0 (default) picks a free one. */
  port?: number;
  host?: string;
  region?: string;
  /** Port every instance's process listens on at its private IP (8372 in production). */
  satellitePort?: number;
  /**
   * The machine's program; `{host}` and `{port}` are substituted, `{tlsCa}`/`{tlsCert}`/`{tlsKey}`
   * by the TLS files its user-data delivers and `{workerLabel}` by the BuildKit worker label it
   * sets (each dropped with its flag when the user-data has none).
   * Default: the Satellites backend.
   */
  command?: readonly string[] | string;
  cwd?: string;
  timings?: Partial<Timings>;
  /** Per-class token rates (AWS's by default); false disables throttling. */
  throttle?: false | Partial<Record<ThrottleClass, TokenRate | null>>;
  /** Extra AMIs, besides EMULATOR_AMIS. */
  images?: Record<string, ImageInfo>;
  /** Third octet of the 127.0.x.y private addresses (random by default). */
  addressOctet?: number;
  /** CIDR blocks associated with the VPC besides the instances' 127.0.0.0/16. */
  vpcCidrs?: string[];
  /** Routes of the VPC's main table to networks outside it (a peered VPC, a VPN, a transit gateway). */
  vpcRoutes?: EmulatedRoute[];
  /** Managed prefix lists' entries (CIDR blocks) by id (pl-…), for routes whose destination is one. */
  vpcPrefixLists?: Record<string, string[]>;
}

export interface Emulator {
  /** http://host:port — pass as the EC2 client's `endpoint` or AWS_ENDPOINT_URL_EC2. */
  endpoint: string;
  port: number;
  satellitePort: number;
  control: EmulatorControl;
  close(): Promise<void>;
}

export const DEFAULT_SATELLITE_PORT = 8372;

/** The colleague's backend program, run through tsx, as each instance's "machine". */
export function defaultCommand(): string[] {
  const require = createRequire(import.meta.url);
  const tsx = pathToFileURL(require.resolve("tsx")).href;
  const main = fileURLToPath(new URL("../../backend/src/main.ts", import.meta.url));
  return [process.execPath, "--import", tsx, main, "--host", "{host}", "--port", "{port}", "--tls-ca", "{tlsCa}", "--tls-cert", "{tlsCert}", "--tls-key", "{tlsKey}", "--worker-label", "{workerLabel}"];
}

const BODY_LIMIT = 1024 * 1024;

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.byteLength;
      if (size > BODY_LIMIT) {
        reject(new Ec2Error("RequestEntityTooLarge", "Request body too large", 413));
        req.destroy();
      } else chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

const count = (m: Record<string, number>, key: string): void => {
  m[key] = (m[key] ?? 0) + 1;
};

/** What the API has seen, per action: requests, throttled and failed ones, and when each arrived. */
class Traffic {
  stats: Stats = { requests: {}, throttled: {}, errors: {} };
  private times = new Map<string, number[]>();

  arrived(action: string): void {
    count(this.stats.requests, action);
    const list = this.times.get(action) ?? [];
    list.push(Date.now());
    if (list.length > 10_000) list.splice(0, list.length - 10_000);
    this.times.set(action, list);
  }

  timesOf(action: string): number[] {
    return [...(this.times.get(action) ?? [])];
  }

  reset(): void {
    this.stats = { requests: {}, throttled: {}, errors: {} };
    this.times = new Map();
  }
}

/** The parts of one emulator that requests and the control endpoint both act on. */
interface Parts {
  fleet: Fleet;
  actions: Ec2Actions;
  faults: Faults;
  throttle: Throttle;
  timings: Timings;
  traffic: Traffic;
}

export async function startEmulator(opts: EmulatorOptions = {}): Promise<Emulator> {
  const satellitePort = opts.satellitePort ?? DEFAULT_SATELLITE_PORT;
  const command = typeof opts.command === "string" ? opts.command.trim().split(/\s+/) : (opts.command ?? defaultCommand());
  const timings: Timings = { ...DEFAULT_TIMINGS, ...opts.timings };
  const faults = new Faults();
  const fleet = new Fleet({
    timings,
    satellitePort,
    command,
    cwd: opts.cwd,
    addresses: new LoopbackAddresses(opts.addressOctet),
    faultsFor: (id) => faults.forInstance(id),
    onLaunch: (id) => faults.adopt(id),
  });
  const actions = new Ec2Actions(fleet, opts.region ?? "us-east-1", { ...DEFAULT_IMAGES, ...opts.images }, new EmulatedNetwork(opts.vpcCidrs, opts.vpcRoutes, opts.vpcPrefixLists));
  const parts: Parts = { fleet, actions, faults, throttle: new Throttle(opts.throttle), timings, traffic: new Traffic() };
  const control = controlOf(parts, opts);
  const server = createServer((req, res) => void handle(parts, control, req, res));

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, opts.host ?? "127.0.0.1", () => resolve());
  });
  const { port, address } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    endpoint: `http://${address}:${port}`,
    port,
    satellitePort,
    control,
    close: () =>
      (closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await Promise.all([closed, fleet.close()]);
      })()),
  };
}

/** What tests (in process, or over /_emulator/*) use to look inside and to inject trouble. */
function controlOf(parts: Parts, opts: EmulatorOptions): EmulatorControl {
  const { fleet, faults, timings, traffic } = parts;
  return {
    instances: () => fleet.all().map(snapshot),
    instance: (id) => {
      const inst = fleet.get(id);
      return inst ? snapshot(inst) : null;
    },
    logs: (id) => fleet.get(id)?.process?.log ?? "",
    failNext: (fault) => faults.failNext(fault),
    insufficientCapacity: (n = 1) => faults.failNext({ code: "InsufficientInstanceCapacity", count: n }),
    setInstanceFaults: (target, f) => faults.setInstance(target, f),
    setThrottle: (cls, rate) => parts.throttle.set(cls, rate),
    drainBucket: (cls) => parts.throttle.drain(cls),
    setTimings: (t) => void Object.assign(timings, t),
    stats: () => structuredClone(traffic.stats),
    requestTimes: (action) => traffic.timesOf(action),
    reset: () => {
      faults.clear();
      traffic.reset();
      parts.throttle = new Throttle(opts.throttle);
    },
  };
}

/** One HTTP request: the control endpoint, or an EC2 action through throttling and injected faults. */
async function handle(parts: Parts, control: EmulatorControl, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const requestId = randomUUID();
  let action = "unknown";
  try {
    const body = await readBody(req);
    if (req.url?.startsWith(CONTROL_PREFIX)) return await serveControl(control, req, res, body);
    if (req.method !== "POST") throw new Ec2Error("InvalidAction", "The EC2 Query API takes POST requests", 400);
    const raw = new URLSearchParams(body);
    action = raw.get("Action") ?? "";
    if (!action) throw new Ec2Error("MissingAction", "The request must contain the parameter Action");
    parts.traffic.arrived(action);
    if (!isAction(action)) throw new Ec2Error("InvalidAction", `The action ${action} is not valid for this web service.`);
    if (!parts.throttle.take(action)) {
      count(parts.traffic.stats.throttled, action);
      throw new Ec2Error("RequestLimitExceeded", "Request limit exceeded.", 503);
    }
    const injected = parts.faults.take(action, [...raw].filter(([k]) => /^InstanceId\.\d+$/.test(k)).map(([, v]) => v));
    if (injected instanceof Ec2Error) throw injected;
    const result = await parts.actions.run(action, Params.parse(body), raw);
    // Done, but the client hears nothing for a while (its request times out; EC2 acted).
    if (injected) await new Promise((r) => setTimeout(r, injected.hangMs));
    if (res.destroyed) return;
    res.writeHead(200, { "content-type": "text/xml;charset=UTF-8", "x-amzn-requestid": requestId }).end(actionResponse(action, requestId, result));
  } catch (caught: unknown) {
    const err = caught instanceof Ec2Error ? caught : new Ec2Error("InternalError", `An internal error has occurred: ${caught instanceof Error ? caught.message : String(caught)}`, 500);
    count(parts.traffic.stats.errors, action);
    res.writeHead(err.status, { "content-type": "text/xml;charset=UTF-8", "x-amzn-requestid": requestId }).end(errorResponse(err.code, err.message, requestId));
  }
}
