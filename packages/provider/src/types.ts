// The one interface the jobs worker drives. Implementations: local (processes in cgroups,
// the embedded default) and ec2 (@aws-sdk/client-ec2). Every method is idempotent: asking
// for the state an instance is already in succeeds, so a re-run job is harmless.
import type { Limits, PlatformName, SizeName } from "@satellites/catalog";
import type { WorkerLabel } from "@satellites/backend/probe";

export interface LaunchSpec {
  satelliteId: string;
  orgId: string;
  name: string;
  platform: PlatformName;
  size: SizeName;
  limits: Limits;
  /** Configure hibernation at launch (x86 only; cannot be added later on EC2). */
  hibernate: boolean;
}

export interface Launched {
  instanceId: string;
  /** Whether hibernation really is configured (the provider may refuse it, e.g. arm). */
  hibernate: boolean;
  /** False when the host cannot enforce limits (local provider without writable cgroups). */
  limitsEnforced: boolean;
  /** False when the daemon cannot be given its OOM score adjustment (see LimitsOutcome). */
  oomScoreEnforced: boolean;
}

/** Provider-neutral instance state. `hibernated` means memory was kept (resume, not boot). */
export type InstanceState = "pending" | "running" | "stopping" | "stopped" | "hibernated" | "terminated" | "missing";

export interface InstanceInfo {
  instanceId: string;
  state: InstanceState;
  /** host:port the proxy forwards to, when running. Comes only from the provider. */
  upstream: string | null;
  /** Set when the machine stopped without being asked to (a crashed process): why. */
  failure?: string;
  /**
   * From start() with pendingLimits: false when they were not given to the machine (EC2: it was
   * running already — user-data only changes while stopped), so they are still pending.
   */
  pendingLimitsWritten?: boolean;
  /**
   * From start(): the machine's daemon was alive and is answering now (resumed with its memory,
   * or running already), unlike one that boots or starts anew. Only then is its address worth
   * announcing before its health probe (a waking satellite's address hint).
   */
  resumed?: true;
}

/** An instance the provider holds for some satellite (tagged as ours), for the orphan sweep. */
export interface OwnedInstance {
  instanceId: string;
  satelliteId: string;
  launchedAt: Date;
}

export interface StartOptions {
  /** Limits saved while the instance could not take them; apply before booting. */
  pendingLimits?: Limits;
  /**
   * Called once the provider knows it will resume the very process that sleeps (a hibernated
   * local daemon), with its address, right before it is thawed: the caller may connect to it
   * meanwhile. Not called when a new process or machine starts.
   */
  onResume?: (upstream: string) => void;
}

export interface LimitsOutcome {
  /** true: enforced now; false: saved, applied at the next start ("pending"). */
  applied: boolean;
  enforced: boolean;
  /** False when the daemon cannot be given its OOM score adjustment (local: lowering it needs CAP_SYS_RESOURCE). */
  oomScoreEnforced: boolean;
}

/** A stopped instance with a new size and/or platform (and the limits rendered for it). */
export interface Resized {
  /** Differs from the one passed in when the provider had to replace the instance. */
  instanceId: string;
  hibernate: boolean;
  limitsEnforced: boolean;
  oomScoreEnforced: boolean;
}

export interface LaunchOptions {
  /**
   * Called as soon as the instance exists (EC2: right after RunInstances), before waiting for
   * it to run, so the caller records it and nothing can leak. `adopted`: an instance an
   * earlier attempt launched (its limits may be older than `spec.limits`). If it throws, the
   * launch stops there and the error propagates; the instance is left for the caller to judge.
   */
  onInstance?: (instanceId: string, adopted: boolean) => Promise<void>;
}

export interface WatchedMachine {
  instanceId: string;
  satelliteId: string;
}

/** One process the kernel's OOM killer killed on a machine. */
export interface MemoryKill {
  /** Unique for the kill (kernel log: boot id and sequence number), so it is recorded once. */
  id: string;
  at: Date;
  /** The killed process's name, when the kernel said. */
  process: string | null;
  /** The whole host ran out of memory (not the satellite's limit). */
  hostWide: boolean;
}

/** What a provider's watch() reports; each is called from its polling loop, so it must not block. */
export interface MachineEvents {
  death(machine: WatchedMachine): void;
  /**
   * The kernel's OOM killer killed processes on the machine (its daemon or build steps).
   * Every watching process reports what it sees, and may report a kill again after a restart:
   * the receiver keeps each kill once, by its id. `limitMiB`: the memory limit then.
   */
  memoryKills?(machine: WatchedMachine & { limitMiB: number; kills: MemoryKill[] }): void;
}

export interface StopOptions {
  hibernate: boolean;
  /**
   * Asked right before each stop request (after waiting out a start or stop in progress): false
   * leaves the machine as it is. A sleep job's late copy — its lock lost, the sleep finished by
   * its twin — must not stop the machine a wake has started since.
   */
  stillWanted?: () => Promise<boolean>;
}

export interface ResizeOptions {
  /**
   * Asked before a resize stops a machine it finds running: false ends it with
   * PermanentProviderError("Superseded") and the machine untouched (a late copy of the job; the
   * satellite was resized and woken since).
   */
  stillWanted?: () => Promise<boolean>;
}

export interface Provider {
  readonly name: "local" | "ec2";
  launch(spec: LaunchSpec, opts?: LaunchOptions): Promise<Launched>;
  /** Start (or resume from hibernation). Returns when the provider reports running, not healthy. */
  start(instanceId: string, opts?: StartOptions): Promise<InstanceInfo>;
  /** Stop; with hibernate the memory is kept. Returns when stopped, or at once when `stillWanted` says no. */
  stop(instanceId: string, opts: StopOptions): Promise<void>;
  terminate(instanceId: string): Promise<void>;
  describe(instanceId: string): Promise<InstanceInfo>;
  /** describe() for many instances in as few API calls as the provider allows (the reconciler's pass). */
  describeMany(instanceIds: string[]): Promise<Map<string, InstanceInfo>>;
  applyLimits(instanceId: string, limits: Limits, spec: Pick<LaunchSpec, "platform" | "size">): Promise<LimitsOutcome>;
  /**
   * Give a sleeping instance `spec.size`/`spec.platform` and `spec.limits`; it is left stopped
   * (memory not kept). Idempotent: a re-run after a crash ends with the same instance.
   */
  resize(instanceId: string, spec: LaunchSpec, opts?: ResizeOptions): Promise<Resized>;
  /**
   * A resize of `instanceId` to `spec` is being given up: a replacement instance it launched
   * must not outlive it (it would run, and bill, unseen). `terminated`: the replacement, now
   * gone, the old instance intact. `kept`: the old instance is gone already, so the replacement
   * is the satellite's machine.
   */
  abandonResize(instanceId: string, spec: LaunchSpec): Promise<{ terminated?: string; kept?: string }>;
  /** Every live (not terminated) instance tagged as a satellite's, for the orphan sweep. */
  listOwned(): Promise<OwnedInstance[]>;
  /**
   * Tells soon after a machine that should be running stops on its own, or has processes killed
   * for memory (the local provider watches its processes and cgroups). Returns a function that
   * stops watching.
   */
  watch?(events: MachineEvents): () => void;
  /**
   * OOM kills read by a periodic pass rather than a watch (EC2: the running satellites' consoles,
   * one call each, at most `maxMachines` per pass, `turn` saying which share): the jobs processes
   * run it on one schedule shared by all of them. A report may repeat kills reported before: the
   * receiver keeps each once.
   */
  memoryKillPass?(maxMachines: number, turn: number): Promise<(WatchedMachine & { limitMiB: number; kills: MemoryKill[] })[]>;
  /**
   * The worker label the machine's daemon carries once it runs with these limits at this size (EC2: written
   * by its user-data): a start is healthy only when the daemon carries it. Unset where a daemon
   * is always started with its current files (local).
   */
  readyLabel?(limits: Limits, size: SizeName): WorkerLabel;
  /** What the machine said last (local: the end of its daemon's log), for a failure's reason; null when nothing. */
  diagnose?(instanceId: string): Promise<string | null>;
  /** Upkeep on the provider's side, run by every reconcile pass; says what it did. */
  housekeeping?(): Promise<string[]>;
  close?(): Promise<void>;
}

/** Errors worth retrying (capacity, throttling, transient network): the job retries with backoff. */
export class RetryableProviderError extends Error {
  override name = "RetryableProviderError";
  constructor(message: string, readonly code?: string) {
    super(message);
  }
}

/** Errors retrying will not fix (bad AMI, instance gone): the satellite goes to failed. */
export class PermanentProviderError extends Error {
  override name = "PermanentProviderError";
  constructor(message: string, readonly code?: string) {
    super(message);
  }
}
