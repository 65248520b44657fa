// The instance model: EC2's lifecycle (pending → running → stopping → stopped → pending …,
// shutting-down → terminated) on timers, with a real process standing in for the machine.
// Actions validate and then call these transitions; the transitions themselves never fail.
import { randomBytes } from "node:crypto";
import type { LoopbackAddresses } from "./addresses.ts";
import type { Architecture } from "./instance-types.ts";
import { MachineProcess, expandCommand, type ProcessState } from "./processes.ts";
import { workerLabelOf } from "./machine-label.ts";
import { writeMachineTls } from "./machine-tls.ts";

export type Ec2State = "pending" | "running" | "shutting-down" | "terminated" | "stopping" | "stopped";

export const STATE_CODES: Readonly<Record<Ec2State, number>> = {
  pending: 0,
  running: 16,
  "shutting-down": 32,
  terminated: 48,
  stopping: 64,
  stopped: 80,
};

export interface Timings {
  /** pending → running. */
  pendingMs: number;
  /** stopping → stopped (at least as long as the process takes to exit). */
  stoppingMs: number;
  /** shutting-down → terminated. */
  shuttingDownMs: number;
  /** SIGTERM → SIGKILL on a plain stop. */
  killGraceMs: number;
  /**
   * As on EC2, the daemon starts (or thaws) with the files of the user-data it last ran, and
   * the user-data script (cloud-init, late in boot; the resume hook) restarts it with new ones
   * this long after. Unset: the machine runs its current user-data from the start, and a thawed
   * daemon is kept as it is.
   */
  userDataApplyMs?: number;
}

export const DEFAULT_TIMINGS: Readonly<Timings> = { pendingMs: 300, stoppingMs: 200, shuttingDownMs: 200, killGraceMs: 2000 };

export interface InstanceFaults {
  /** The instance reaches running but its process is never started (never healthy). */
  noProcess?: boolean;
  /** Extra time spent in pending on every start. */
  extraStartDelayMs?: number;
  /**
   * DescribeInstances lags its changes this long (EC2 is eventually consistent): for so long
   * after a change of state it still reports the state before it.
   */
  readLagMs?: number;
}

export interface Volume {
  deviceName: string;
  volumeId: string;
  sizeGiB: number;
  encrypted: boolean;
  volumeType: string;
  deleteOnTermination: boolean;
}

export interface StateReason {
  code: string;
  message: string;
}

export interface Instance {
  instanceId: string;
  reservationId: string;
  imageId: string;
  instanceType: string;
  architecture: Architecture;
  vcpu: number;
  privateIp: string;
  launchTime: Date;
  state: Ec2State;
  stateReason: StateReason | null;
  stateTransitionReason: string;
  /** What the launch asked of the instance metadata service (RunInstances MetadataOptions). */
  metadataOptions: MetadataOptions;
  hibernationConfigured: boolean;
  /** Stopped with its memory kept: the next start resumes the frozen process, if any. */
  hibernated: boolean;
  /** Base64, as the API carries it. */
  userData: string | null;
  tags: Map<string, string>;
  volumes: Volume[];
  rootDeviceName: string;
  subnetId: string;
  securityGroupIds: string[];
  clientToken: string | null;
  process: MachineProcess | null;
  /** The output of the last process that ended (GetConsoleOutput of a stopped instance). */
  lastConsole: string;
  /** How many times a process was spawned for this instance (a resume does not count). */
  processStarts: number;
  /** The user-data whose files the running (or frozen) daemon was started with. */
  appliedUserData: string | null;
  /** Bumped on every transition so a stale timer does nothing. */
  generation: number;
  /** The state before the last change, and when that change was made (for `readLagMs`). */
  previousState: Ec2State | null;
  changedAt: number;
  timer: NodeJS.Timeout | undefined;
}

export type NewInstance = Pick<
  Instance,
  "imageId" | "instanceType" | "architecture" | "vcpu" | "hibernationConfigured" | "metadataOptions" | "userData" | "tags" | "volumes" | "rootDeviceName" | "subnetId" | "securityGroupIds" | "clientToken"
>;

export interface MetadataOptions {
  httpTokens: "optional" | "required";
  httpPutResponseHopLimit: number;
  httpEndpoint: "enabled" | "disabled";
}

export const hexId = (prefix: string): string => `${prefix}-${randomBytes(9).toString("hex").slice(0, 17)}`;

const utc = (d: Date): string => d.toISOString().replace("T", " ").replace(/\.\d+Z$/, " GMT");

const USER_SHUTDOWN: StateReason = { code: "Client.UserInitiatedShutdown", message: "Client.UserInitiatedShutdown: User initiated shutdown" };
const USER_HIBERNATE: StateReason = { code: "Client.UserInitiatedHibernate", message: "Client.UserInitiatedHibernate: User initiated hibernate" };

export interface FleetOptions {
  timings: Timings;
  satellitePort: number;
  command: readonly string[];
  cwd?: string;
  addresses: LoopbackAddresses;
  faultsFor(instanceId: string): InstanceFaults;
  /** Called with each new instance id before it boots. */
  onLaunch?(instanceId: string): void;
}

export class Fleet {
  private readonly byId = new Map<string, Instance>();
  private closed = false;

  constructor(private readonly opts: FleetOptions) {}

  get timings(): Timings {
    return this.opts.timings;
  }

  get(id: string): Instance | undefined {
    return this.byId.get(id);
  }

  all(): Instance[] {
    return [...this.byId.values()];
  }

  /** The instance as DescribeInstances reports it: its state lagging by the fault's `readLagMs`. */
  reported(inst: Instance): Instance {
    const lag = this.opts.faultsFor(inst.instanceId).readLagMs ?? 0;
    if (!inst.previousState || Date.now() - inst.changedAt >= lag) return inst;
    return { ...inst, state: inst.previousState };
  }

  async launch(spec: NewInstance, reservationId: string): Promise<Instance> {
    const privateIp = await this.opts.addresses.allocate(this.opts.satellitePort);
    const inst: Instance = {
      ...spec,
      instanceId: hexId("i"),
      reservationId,
      privateIp,
      launchTime: new Date(),
      state: "pending",
      stateReason: { code: "pending", message: "pending" },
      stateTransitionReason: "",
      hibernated: false,
      process: null,
      lastConsole: "",
      processStarts: 0,
      appliedUserData: null,
      generation: 0,
      previousState: null,
      changedAt: Date.now(),
      timer: undefined,
    };
    this.byId.set(inst.instanceId, inst);
    this.opts.onLaunch?.(inst.instanceId);
    this.enterPending(inst);
    return inst;
  }

  /** stopped → pending → running; a hibernated instance resumes its frozen process. */
  start(inst: Instance): void {
    if (inst.state !== "stopped") return;
    inst.launchTime = new Date();
    this.enterPending(inst);
  }

  /** running → stopping → stopped. Hibernate freezes the process; a plain stop ends it. */
  stop(inst: Instance, hibernate: boolean): void {
    if (inst.state !== "running") return;
    const generation = this.transition(inst, "stopping");
    inst.stateReason = hibernate ? USER_HIBERNATE : USER_SHUTDOWN;
    inst.stateTransitionReason = `User initiated (${utc(new Date())})`;
    const proc = inst.process;
    if (hibernate) proc?.freeze();
    const exited = hibernate || !proc ? Promise.resolve() : proc.stop(this.timings.killGraceMs);
    void Promise.all([exited, delay(this.timings.stoppingMs)]).then(() => {
      if (inst.generation !== generation) return;
      if (!hibernate) {
        inst.lastConsole = proc?.log ?? inst.lastConsole;
        inst.process = null;
      }
      inst.hibernated = hibernate;
      this.transition(inst, "stopped");
    });
  }

  /** Any state → shutting-down → terminated; the process (frozen or not) is killed. */
  terminate(inst: Instance): void {
    if (inst.state === "shutting-down" || inst.state === "terminated") return;
    const generation = this.transition(inst, "shutting-down");
    inst.stateReason = USER_SHUTDOWN;
    inst.stateTransitionReason = `User initiated (${utc(new Date())})`;
    inst.hibernated = false;
    const proc = inst.process;
    inst.process = null;
    inst.lastConsole = proc?.log ?? inst.lastConsole;
    void Promise.all([proc?.kill(), delay(this.timings.shuttingDownMs)]).then(() => {
      if (inst.generation !== generation) return;
      this.transition(inst, "terminated");
      this.opts.addresses.release(inst.privateIp);
    });
  }

  /** Kill every process and stop all timers (the emulator is going away). */
  async close(): Promise<void> {
    this.closed = true;
    const exits: Promise<void>[] = [];
    for (const inst of this.byId.values()) {
      clearTimeout(inst.timer);
      inst.generation++;
      if (inst.process) exits.push(inst.process.kill());
      inst.process = null;
    }
    await Promise.all(exits);
  }

  private transition(inst: Instance, state: Ec2State): number {
    clearTimeout(inst.timer);
    inst.timer = undefined;
    if (inst.state !== state) {
      inst.previousState = inst.state;
      inst.changedAt = Date.now();
    }
    inst.state = state;
    return ++inst.generation;
  }

  private enterPending(inst: Instance): void {
    const generation = this.transition(inst, "pending");
    if (inst.stateReason?.code !== "pending") inst.stateReason = null;
    const faults = this.opts.faultsFor(inst.instanceId);
    inst.timer = setTimeout(() => {
      if (inst.generation === generation) this.enterRunning(inst);
    }, this.timings.pendingMs + (faults.extraStartDelayMs ?? 0));
  }

  private enterRunning(inst: Instance): void {
    this.transition(inst, "running");
    inst.stateReason = null;
    inst.stateTransitionReason = "";
    const wasHibernated = inst.hibernated;
    inst.hibernated = false;
    if (this.closed || this.opts.faultsFor(inst.instanceId).noProcess) return;
    const late = this.timings.userDataApplyMs;
    if (wasHibernated && inst.process?.state === "frozen") {
      inst.process.thaw();
    } else {
      // The previous boot's files when the script applies the user-data late, as on EC2.
      this.spawn(inst, late !== undefined && inst.appliedUserData !== null ? inst.appliedUserData : inst.userData);
    }
    if (late === undefined || inst.appliedUserData === inst.userData) return;
    const generation = inst.generation;
    inst.timer = setTimeout(() => {
      if (inst.generation !== generation || this.closed || inst.appliedUserData === inst.userData) return;
      // The script saw changed files: it restarts the daemon with them.
      const old = inst.process;
      void (old ? old.kill() : Promise.resolve()).then(() => {
        if (inst.generation === generation && !this.closed) this.spawn(inst, inst.userData);
      });
    }, late);
  }

  /** The machine's daemon, started with the files `userData` installs (its certificate, its worker label). */
  private spawn(inst: Instance, userData: string | null): void {
    const argv = expandCommand(this.opts.command, inst.privateIp, this.opts.satellitePort, writeMachineTls(inst.instanceId, userData), workerLabelOf(userData));
    inst.process = new MachineProcess(argv, { cwd: this.opts.cwd });
    inst.appliedUserData = userData;
    inst.processStarts++;
  }
}

export interface InstanceSnapshot {
  instanceId: string;
  state: Ec2State;
  instanceType: string;
  architecture: Architecture;
  privateIp: string;
  hibernationConfigured: boolean;
  metadataOptions: MetadataOptions;
  hibernated: boolean;
  userData: string | null;
  tags: Record<string, string>;
  volumes: Volume[];
  pid: number | null;
  process: ProcessState | "none";
  processStarts: number;
}

export function snapshot(inst: Instance): InstanceSnapshot {
  return {
    instanceId: inst.instanceId,
    state: inst.state,
    instanceType: inst.instanceType,
    architecture: inst.architecture,
    privateIp: inst.privateIp,
    hibernationConfigured: inst.hibernationConfigured,
    metadataOptions: { ...inst.metadataOptions },
    hibernated: inst.hibernated,
    userData: inst.userData,
    tags: Object.fromEntries(inst.tags),
    volumes: inst.volumes.map((v) => ({ ...v })),
    pid: inst.process && inst.process.state !== "exited" ? inst.process.pid : null,
    process: inst.process?.state ?? "none",
    processStarts: inst.processStarts,
  };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
