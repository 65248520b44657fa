// The production provider: one EC2 instance per satellite, driven with @aws-sdk/client-ec2.
// Every call is idempotent (a launch replays its ClientToken; stop/start on an instance already
// there succeed), polls DescribeInstances itself (fast, with backoff; the SDK waiters poll every
// 15 s), and maps EC2 errors onto RetryableProviderError / PermanentProviderError.
import { createHash } from "node:crypto";
import {
  DescribeInstancesCommand,
  EC2Client,
  ModifyInstanceAttributeCommand,
  RunInstancesCommand,
  StartInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
  type EC2ClientConfig,
  type Instance as Ec2Instance,
  type InstanceStateName,
  type _InstanceType,
  type Tag,
} from "@aws-sdk/client-ec2";
import { PLATFORMS, SIZE_SPECS, SIZES, hibernatable, type Limits, type PlatformName, type SizeName } from "@satellites/catalog";
import {
  PermanentProviderError,
  RetryableProviderError,
  type InstanceInfo,
  type InstanceState,
  type LaunchSpec,
  type Launched,
  type LaunchOptions,
  type OwnedInstance,
  type LimitsOutcome,
  type Provider,
  type Resized,
  type StartOptions,
  type StopOptions,
  type ResizeOptions,
} from "./types.ts";
import { satelliteServerName, type CertificateAuthority, type TlsMaterial } from "@satellites/pki";
import type { WorkerLabel } from "@satellites/backend/probe";
import { LIMITS_LABEL, limitsLabel } from "./limits-label.ts";
import { ec2StepNetwork, renderUserData, SLICE_NAME, type Ec2StepNetwork } from "./user-data.ts";
import { readConsole, readConsoleDiagnosis } from "./ec2-console.ts";
import { readConsoleKills, type ConsoleKillReport } from "./ec2-memory-kills.ts";
import { assertStepSubnetClear, type LaunchVpc, launchVpc, unauthorized } from "./ec2-vpc.ts";

export interface Ec2ProviderOptions {
  region: string;
  /** Overrides the EC2 endpoint (the SDK also reads AWS_ENDPOINT_URL_EC2). */
  endpoint?: string;
  amiAmd64?: string;
  amiArm64?: string;
  subnetId?: string;
  securityGroupIds?: string[];
  /** Port the build daemon listens on at the instance's private IP. */
  satellitePort: number;
  /** Where build steps are networked on the instance (default: a bridge of their own). */
  stepNetwork?: Ec2StepNetwork;
  /** The slice's process cap (EC2_SATELLITE_PIDS_MAX; default DEFAULT_EC2_PIDS_MAX). */
  pidsMax?: number;
  /** Operator switch: configure hibernation at launch on x86 sizes and hibernate when asked. */
  hibernate: boolean;
  /** First pause between DescribeInstances polls (default 250 ms; ×1.5 up to 2 s). */
  pollIntervalMs?: number;
  /** Upper bound for one operation's wait (default 5 min). */
  timeoutMs?: number;
  credentials?: EC2ClientConfig["credentials"];
  /** SDK attempts per call, retries included (default 3, the SDK's). */
  maxAttempts?: number;
  /**
   * Longest wait for one HTTP answer from EC2 (default 20 s). Without it a request whose answer
   * never comes holds its job, and the satellite's transition, for ever; a timed-out attempt is
   * retried like any transient error (every call is idempotent).
   */
  requestTimeoutMs?: number;
  /** Root device of the AMIs (default /dev/xvda, Amazon Linux's). */
  rootDeviceName?: string;
  /**
   * The control plane's CA: each satellite's user-data carries a server certificate for
   * satelliteServerName(id) and the CA, and buildkitd serves mutual TLS only.
   */
  ca?: CertificateAuthority;
  /**
   * Client-side pacing per action class, so this process alone never drains the account's EC2
   * token buckets (AWS's numbers by default; lower them when several workers share an account).
   * false disables it.
   */
  rateLimits?: false | Partial<Record<RateClass, { burst: number; perSecond: number }>>;
  /**
   * Waits for the account's turn to make a call of this class, shared by every worker process
   * (the jobs process passes a Redis-backed limiter). Replaces the per-process pacing.
   */
  pace?: (cls: RateClass) => Promise<void>;
}

/** The satellite an instance was launched for (its tag). */
function satelliteIdOf(inst: Ec2Instance): string | undefined {
  return inst.Tags?.find((t) => t.Key === "satellites:id")?.Value;
}

/** Room on the root volume for the OS, next to the cache and the hibernation image. */
const ROOT_MARGIN_GIB = 8;
const MAX_POLL_MS = 2000;
/** A new instance can be invisible to DescribeInstances for a moment (eventual consistency). */
const NOT_FOUND_GRACE_MS = 15_000;
/** How long a state read just after a change may still show the state before it. */
const STALE_READ_GRACE_MS = 15_000;
const HIBERNATE_REASON = "Client.UserInitiatedHibernate";
/** A launch that finds its earlier instance terminated derives the next token; this bounds the chain. */
const MAX_TOKEN_CHAIN = 8;

const RETRYABLE_CODES = new Set([
  "RequestLimitExceeded",
  "Throttling",
  "ThrottlingException",
  "InsufficientInstanceCapacity",
  "InsufficientCapacity",
  "InsufficientHostCapacity",
  "InsufficientReservedInstanceCapacity",
  "InternalError",
  "InternalFailure",
  "ServiceUnavailable",
  "Unavailable",
  "IncorrectInstanceState",
  "RequestTimeout",
  "RequestTimeoutException",
  "TimeoutError",
]);
const NETWORK_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "ECONNABORTED"]);

interface SdkError {
  name?: string;
  code?: string;
  Code?: string;
  message?: string;
  $fault?: "client" | "server";
  $metadata?: { httpStatusCode?: number };
}

export function ec2ErrorCode(err: unknown): string {
  const e = (err ?? {}) as SdkError;
  return e.Code ?? (e.name && e.name !== "Error" ? e.name : undefined) ?? e.code ?? "Unknown";
}

/** Throttling, capacity, server faults and network trouble retry; everything else is final. */
export function toProviderError(err: unknown, context: string): RetryableProviderError | PermanentProviderError {
  if (err instanceof RetryableProviderError || err instanceof PermanentProviderError) return err;
  const e = (err ?? {}) as SdkError;
  const code = ec2ErrorCode(err);
  const message = `${context}: ${code}: ${e.message ?? String(err)}`;
  if (RETRYABLE_CODES.has(code) || (e.code !== undefined && NETWORK_CODES.has(e.code))) return new RetryableProviderError(message, code);
  if (e.$fault === "server" || (e.$metadata?.httpStatusCode ?? 0) >= 500) return new RetryableProviderError(message, code);
  return new PermanentProviderError(message, code);
}

export type RateClass = "RunInstances" | "StartInstances" | "mutating" | "describe";
export const AWS_RATES: Record<RateClass, { burst: number; perSecond: number }> = {
  RunInstances: { burst: 5, perSecond: 2 },
  StartInstances: { burst: 5, perSecond: 2 },
  mutating: { burst: 50, perSecond: 5 },
  describe: { burst: 100, perSecond: 20 },
};

/** A token bucket that waits for a token instead of failing (FIFO per class). */
class Pacer {
  private tokens: number;
  private at = performance.now();
  private queue: Promise<void> = Promise.resolve();
  constructor(private readonly rate: { burst: number; perSecond: number }) {
    this.tokens = rate.burst;
  }
  acquire(): Promise<void> {
    const turn = this.queue.then(async () => {
      for (;;) {
        const now = performance.now();
        this.tokens = Math.min(this.rate.burst, this.tokens + ((now - this.at) / 1000) * this.rate.perSecond);
        this.at = now;
        if (this.tokens >= 1) {
          this.tokens -= 1;
          return;
        }
        await sleep(((1 - this.tokens) / this.rate.perSecond) * 1000);
      }
    });
    this.queue = turn;
    return turn;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Deterministic per satellite (and per earlier, terminated instance): a re-run launch replays. */
export function launchToken(satelliteId: string, previousInstanceId?: string): string {
  const seed = previousInstanceId ? `${satelliteId}/${previousInstanceId}` : satelliteId;
  return `sat-${createHash("sha256").update(seed).digest("hex").slice(0, 48)}`;
}

/** The satellite size and platform an instance type stands for (the catalog in reverse). */
export function sizeOfInstanceType(instanceType: string): { size: SizeName; platform: PlatformName } | null {
  for (const size of SIZES) for (const platform of PLATFORMS) if (SIZE_SPECS[size].instanceType[platform] === instanceType) return { size, platform };
  return null;
}

/**
 * The root volume: the disk limit is the build cache's budget, so it comes on top of the OS and,
 * where the instance may hibernate, its RAM's image. (Earthly's BuildKit keeps its cache at the
 * budget with no free-space floor: a volume the budget's size filled up.)
 */
export function rootVolumeGiB(size: SizeName, diskGiB: number, hibernate: boolean): number {
  return diskGiB + ROOT_MARGIN_GIB + (hibernate ? Math.ceil(SIZE_SPECS[size].memoryMiB / 1024) : 0);
}

/** Unknown to EC2, or terminated or on its way there. */
function isGone(inst: Ec2Instance | null): boolean {
  return inst === null || inst.State?.Name === "shutting-down" || inst.State?.Name === "terminated";
}

function stateOf(inst: Ec2Instance | null): InstanceState {
  switch (inst?.State?.Name) {
    case undefined:
      return "missing";
    case "pending":
      return "pending";
    case "running":
      return "running";
    case "stopping":
      return "stopping";
    case "stopped":
      return inst.StateReason?.Code === HIBERNATE_REASON ? "hibernated" : "stopped";
    default:
      // shutting-down and terminated: gone for our purposes.
      return "terminated";
  }
}

const encoder = new TextEncoder();

class Ec2Provider implements Provider {
  readonly name = "ec2" as const;
  private readonly ec2: EC2Client;
  private readonly pacers = new Map<RateClass, Pacer>();
  /**
   * Certificates issued per satellite in this process: a re-run RunInstances must send the same
   * user-data (EC2 refuses a replayed ClientToken with other arguments), so one is reused.
   */
  private readonly issued = new Map<string, Promise<TlsMaterial>>();
  private readonly pollMs: number;
  private readonly timeoutMs: number;
  /** The launch VPC's blocks, read once; forgotten after a failure (asked again), undefined when EC2 refused the permission. */
  private vpc?: Promise<LaunchVpc | undefined>;

  constructor(private readonly opts: Ec2ProviderOptions) {
    this.ec2 = new EC2Client({
      region: opts.region,
      ...(opts.endpoint !== undefined && { endpoint: opts.endpoint }),
      ...(opts.credentials !== undefined && { credentials: opts.credentials }),
      maxAttempts: opts.maxAttempts ?? 3,
      // throwOnRequestTimeout: since @smithy/node-http-handler 4.4 an exceeded requestTimeout
      // only logs a warning unless asked to fail the attempt.
      requestHandler: { requestTimeout: opts.requestTimeoutMs ?? 20_000, connectionTimeout: 5_000, throwOnRequestTimeout: true },
    });
    if (opts.rateLimits !== false) {
      for (const cls of Object.keys(AWS_RATES) as RateClass[]) this.pacers.set(cls, new Pacer(opts.rateLimits?.[cls] ?? AWS_RATES[cls]));
    }
    this.pollMs = opts.pollIntervalMs ?? 250;
    this.timeoutMs = opts.timeoutMs ?? 300_000;
  }

  private async send<T>(cls: RateClass, context: string, fn: () => Promise<T>): Promise<T> {
    if (this.opts.pace) await this.opts.pace(cls);
    else await this.pacers.get(cls)?.acquire();
    try {
      return await fn();
    } catch (err) {
      throw toProviderError(err, context);
    }
  }

  /** null when EC2 does not know the instance. */
  private async find(instanceId: string): Promise<Ec2Instance | null> {
    try {
      const out = await this.send("describe", `DescribeInstances ${instanceId}`, () =>
        this.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] })),
      );
      return out.Reservations?.flatMap((r) => r.Instances ?? []).find((i) => i.InstanceId === instanceId) ?? null;
    } catch (err) {
      if (err instanceof PermanentProviderError && (err.code === "InvalidInstanceID.NotFound" || err.code === "InvalidInstanceID.Malformed")) return null;
      throw err;
    }
  }

  private async get(instanceId: string): Promise<Ec2Instance> {
    const inst = await this.find(instanceId);
    if (!inst) throw new PermanentProviderError(`instance ${instanceId} does not exist`, "InvalidInstanceID.NotFound");
    return inst;
  }

  /**
   * Polls until `done(instance)`; `fail` turns states that can never get there into an error.
   * Throttled polls just wait for the next round; the deadline bounds it all.
   */
  private async waitFor(
    instanceId: string,
    what: string,
    done: (inst: Ec2Instance | null) => boolean,
    deadline: number,
    fail: (inst: Ec2Instance | null) => string | null = () => null,
  ): Promise<Ec2Instance | null> {
    const started = Date.now();
    let pause = this.pollMs;
    let last: Ec2Instance | null = null;
    for (;;) {
      await sleep(Math.max(0, Math.min(pause, deadline - Date.now())));
      try {
        last = await this.find(instanceId);
        if (done(last)) return last;
        const why = last === null && Date.now() - started < NOT_FOUND_GRACE_MS ? null : fail(last);
        if (why) throw new PermanentProviderError(`${instanceId} cannot become ${what}: ${why}`, "InvalidInstanceState");
      } catch (err) {
        if (!(err instanceof RetryableProviderError)) throw err;
      }
      if (Date.now() >= deadline) {
        throw new RetryableProviderError(`timed out after ${this.timeoutMs} ms waiting for ${instanceId} to be ${what} (last: ${stateOf(last)})`, "Timeout");
      }
      pause = Math.min(MAX_POLL_MS, pause * 1.5);
    }
  }

  private info(inst: Ec2Instance | null, instanceId: string): InstanceInfo {
    const state = stateOf(inst);
    const ip = inst?.PrivateIpAddress;
    return { instanceId, state, upstream: state === "running" && ip ? `${ip}:${this.opts.satellitePort}` : null };
  }

  private tlsFor(satelliteId: string | undefined): Promise<TlsMaterial | undefined> {
    const ca = this.opts.ca;
    if (!ca || !satelliteId) return Promise.resolve(undefined);
    let material = this.issued.get(satelliteId);
    if (!material) {
      material = ca.issueServer(`satellite ${satelliteId}`, { dns: [satelliteServerName(satelliteId)] });
      this.issued.set(satelliteId, material);
    }
    return material;
  }

  private async userData(limits: Limits, spec: { platform: PlatformName; size: SizeName }, satelliteId: string | undefined): Promise<string> {
    const tls = await this.tlsFor(satelliteId);
    if (this.opts.ca && !tls) throw new PermanentProviderError("cannot render user-data: the instance carries no satellites:id tag for its certificate", "NoSatelliteId");
    let text: string;
    try {
      text = renderUserData(limits, { ...spec, satellitePort: this.opts.satellitePort, ...(this.opts.stepNetwork && { stepNetwork: this.opts.stepNetwork }), ...(this.opts.pidsMax && { pidsMax: this.opts.pidsMax }), ...(tls && { tls }) });
    } catch (err) {
      throw new PermanentProviderError(`cannot render limits: ${err instanceof Error ? err.message : String(err)}`, "InvalidLimits");
    }
    // Every rendering (launch, a start with new limits, a resize) carries the steps' network.
    await this.checkStepSubnet();
    return text;
  }

  /** A bridge for the steps that overlaps the VPC would cut the instance off: refuse before launching. */
  private async checkStepSubnet(): Promise<void> {
    const network = ec2StepNetwork(this.opts.stepNetwork);
    if (network.mode !== "bridge") return;
    this.vpc ??= launchVpc(this.ec2, (context, fn) => this.send("describe", context, fn), this.opts.subnetId).catch((err: unknown) => {
      // Without ec2:DescribeVpcs the check is skipped (without ec2:DescribeRouteTables, its routes
      // part; without ec2:GetManagedPrefixListEntries, the routes to prefix lists): it guards a
      // misconfiguration, it is not a permission.
      if (unauthorized(err)) return undefined;
      this.vpc = undefined;
      throw err;
    });
    const vpc = await this.vpc;
    if (vpc) assertStepSubnetClear(network.subnet, vpc);
  }

  async launch(spec: LaunchSpec, opts: LaunchOptions = {}): Promise<Launched> {
    const deadline = Date.now() + this.timeoutMs;
    const token = launchToken(spec.satelliteId);
    // An earlier attempt's instance is adopted as it is: replaying RunInstances with other
    // parameters (limits saved meanwhile) would be refused with IdempotentParameterMismatch.
    const earlier = await this.byClientToken(token);
    if (earlier?.InstanceId) {
      await opts.onInstance?.(earlier.InstanceId, true);
      // The caller's start() brings it up whatever state it was left in.
      return { instanceId: earlier.InstanceId, hibernate: earlier.HibernationOptions?.Configured === true, limitsEnforced: true, oomScoreEnforced: true };
    }
    const inst = await this.run(spec, token, deadline, opts.onInstance);
    return { instanceId: inst.InstanceId!, hibernate: inst.HibernationOptions?.Configured === true, limitsEnforced: true, oomScoreEnforced: true };
  }

  /**
   * RunInstances for the satellite with `token` (a replay returns the same instance; one that
   * was terminated since starts a chain of derived tokens), then waits for running.
   */
  private async run(spec: LaunchSpec, token: string, deadline: number, onInstance?: LaunchOptions["onInstance"]): Promise<Ec2Instance> {
    const sizeSpec = SIZE_SPECS[spec.size];
    const instanceType = sizeSpec.instanceType[spec.platform];
    const imageId = spec.platform === "amd64" ? this.opts.amiAmd64 : this.opts.amiArm64;
    if (!imageId) throw new PermanentProviderError(`no AMI configured for ${spec.platform}`, "NoImage");
    const hibernate = spec.hibernate && this.opts.hibernate && hibernatable(spec.platform);
    const userData = Buffer.from(await this.userData(spec.limits, spec, spec.satelliteId)).toString("base64");
    const tags: Tag[] = [
      { Key: "Name", Value: `satellite-${spec.name}` },
      { Key: "satellites:id", Value: spec.satelliteId },
      { Key: "satellites:org", Value: spec.orgId },
    ];

    let previous: string | undefined;
    let inst: Ec2Instance | undefined;
    let adopted = false;
    for (let n = 0; n < MAX_TOKEN_CHAIN; n++) {
      const clientToken = previous === undefined ? token : launchToken(spec.satelliteId, previous);
      const out = await this.send("RunInstances", `RunInstances for satellite ${spec.satelliteId}`, () =>
        this.ec2.send(
          new RunInstancesCommand({
            ClientToken: clientToken,
            ImageId: imageId,
            InstanceType: instanceType as _InstanceType,
            MinCount: 1,
            MaxCount: 1,
            UserData: userData,
            TagSpecifications: [
              { ResourceType: "instance", Tags: tags },
              { ResourceType: "volume", Tags: tags },
            ],
            ...(hibernate && { HibernationOptions: { Configured: true } }),
            BlockDeviceMappings: [
              {
                DeviceName: this.opts.rootDeviceName ?? "/dev/xvda",
                // Encrypted and room for the RAM's image: EC2's hibernation prerequisites; gp3 is the cheapest fast type.
                Ebs: { VolumeSize: rootVolumeGiB(spec.size, spec.limits.diskGiB, Boolean(hibernate)), VolumeType: "gp3", Encrypted: true, DeleteOnTermination: true },
              },
            ],
            // IMDSv2 only, one hop: a build step on its bridge (user-data's CNI network, one hop
            // further) gets no token. With EC2_BUILDKIT_NETWORK=host steps still do; the instance
            // carries no role, and its user-data holds only this satellite's own TLS files.
            MetadataOptions: { HttpTokens: "required", HttpPutResponseHopLimit: 1, HttpEndpoint: "enabled" },
            ...(this.opts.subnetId !== undefined && { SubnetId: this.opts.subnetId }),
            ...(this.opts.securityGroupIds !== undefined && { SecurityGroupIds: this.opts.securityGroupIds }),
          }),
        ),
      ).catch(async (err: unknown) => {
        // Another process launched with this token meanwhile (a job copy that lost its lock), with
        // user-data of its own (its own server certificate): that launch is this satellite's.
        const theirs = err instanceof PermanentProviderError && err.code === "IdempotentParameterMismatch" ? await this.byClientToken(clientToken) : undefined;
        if (!theirs) throw err;
        adopted = true;
        return { Instances: [theirs] };
      });
      inst = out.Instances?.[0];
      if (!inst?.InstanceId) throw new PermanentProviderError("RunInstances returned no instance", "NoInstance");
      // The token replayed an instance that has since been terminated: launch a successor.
      if (inst.State?.Name !== "shutting-down" && inst.State?.Name !== "terminated") break;
      previous = inst.InstanceId;
      inst = undefined;
    }
    if (!inst?.InstanceId) throw new PermanentProviderError(`satellite ${spec.satelliteId}: too many terminated launches`, "TooManyLaunches");
    const instanceId = inst.InstanceId;
    await onInstance?.(instanceId, adopted);
    if (inst.State?.Name !== "running") {
      await this.waitFor(instanceId, "running", (i) => i?.State?.Name === "running", deadline, (i) =>
        i === null || ["stopping", "stopped", "shutting-down", "terminated"].includes(i.State?.Name ?? "") ? `it is ${stateOf(i)}` : null,
      );
    }
    return inst;
  }

  async start(instanceId: string, opts: StartOptions = {}): Promise<InstanceInfo> {
    const deadline = Date.now() + this.timeoutMs;
    let limitsPending = opts.pendingLimits;
    for (;;) {
      const inst = await this.get(instanceId);
      const name = inst.State?.Name;
      // Running already (an earlier attempt started it): pending limits could not be written.
      if (name === "running") return { ...this.info(inst, instanceId), ...(limitsPending ? { pendingLimitsWritten: false } : {}) };
      if (name === "shutting-down" || name === "terminated") throw new PermanentProviderError(`instance ${instanceId} is terminated`, "InstanceTerminated");
      if (name === "stopping") {
        await this.waitFor(instanceId, "stopped", (i) => i?.State?.Name !== "stopping", deadline);
        continue;
      }
      if (name === "stopped") {
        if (limitsPending) {
          await this.writeUserData(instanceId, inst, limitsPending);
          limitsPending = undefined;
        }
        try {
          await this.send("StartInstances", `StartInstances ${instanceId}`, () => this.ec2.send(new StartInstancesCommand({ InstanceIds: [instanceId] })));
        } catch (err) {
          // Raced into stopping (a stop still finishing): look again, within the deadline.
          if (err instanceof RetryableProviderError && err.code === "IncorrectInstanceState" && Date.now() < deadline) {
            await sleep(this.pollMs);
            continue;
          }
          throw err;
        }
      }
      // pending (or just started): wait for running.
      const running = await this.waitFor(instanceId, "running", (i) => i?.State?.Name === "running", deadline, (i) =>
        isGone(i) ? `it is ${stateOf(i)}` : null,
      );
      return this.info(running, instanceId);
    }
  }

  async stop(instanceId: string, opts: StopOptions): Promise<void> {
    const deadline = Date.now() + this.timeoutMs;
    let hibernate = opts.hibernate && this.opts.hibernate;
    for (;;) {
      const inst = await this.get(instanceId);
      const name = inst.State?.Name;
      if (name === "stopped") return;
      if (name === "shutting-down" || name === "terminated") throw new PermanentProviderError(`instance ${instanceId} is terminated`, "InstanceTerminated");
      if (name === "pending" || name === "stopping") {
        // EC2 refuses to stop these (IncorrectInstanceState): let the transition finish first.
        await this.waitFor(instanceId, "settled", (i) => i?.State?.Name !== name, deadline);
        continue;
      }
      if (opts.stillWanted && !(await opts.stillWanted())) return;
      // Only x86 instances launched with hibernation configured can hibernate.
      const canHibernate = hibernate && inst.HibernationOptions?.Configured === true && inst.Architecture !== "arm64";
      try {
        await this.send("mutating", `StopInstances ${instanceId}`, () =>
          this.ec2.send(new StopInstancesCommand({ InstanceIds: [instanceId], ...(canHibernate && { Hibernate: true }) })),
        );
      } catch (err) {
        const code = err instanceof RetryableProviderError || err instanceof PermanentProviderError ? err.code : undefined;
        // e.g. "not ready to hibernate yet" shortly after launch: sleeping plainly beats staying awake.
        if (canHibernate && (code === "UnsupportedHibernationConfiguration" || code === "UnsupportedOperation")) {
          hibernate = false;
          continue;
        }
        if (code === "IncorrectInstanceState" && Date.now() < deadline) {
          await sleep(this.pollMs);
          continue;
        }
        throw err;
      }
      const asked = Date.now();
      await this.waitFor(instanceId, "stopped", (i) => i?.State?.Name === "stopped", deadline, (i) => {
        const name = i?.State?.Name ?? "";
        // EC2's reads lag its writes: "running" just after StopInstances is not news yet (AWS's
        // own InstanceStopped waiter polls on through it); still so after the grace, it is.
        if ((name === "running" || name === "pending") && Date.now() - asked < STALE_READ_GRACE_MS) return null;
        return i === null || ["pending", "running", "shutting-down", "terminated"].includes(name) ? `it is ${stateOf(i)}` : null;
      });
      return;
    }
  }

  async terminate(instanceId: string): Promise<void> {
    const deadline = Date.now() + this.timeoutMs;
    try {
      await this.send("mutating", `TerminateInstances ${instanceId}`, () => this.ec2.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] })));
    } catch (err) {
      if (err instanceof PermanentProviderError && (err.code === "InvalidInstanceID.NotFound" || err.code === "InvalidInstanceID.Malformed")) return;
      throw err;
    }
    await this.waitFor(instanceId, "terminated", (i) => i === null || i.State?.Name === "terminated", deadline);
  }

  async describe(instanceId: string): Promise<InstanceInfo> {
    return this.info(await this.find(instanceId), instanceId);
  }

  async listOwned(): Promise<OwnedInstance[]> {
    return this.satelliteInstances(["pending", "running", "stopping", "stopped"]);
  }

  /** The satellites' instances (tagged with their satellite) in these states, every page. */
  private async satelliteInstances(states: InstanceStateName[]): Promise<OwnedInstance[]> {
    const out: OwnedInstance[] = [];
    let next: string | undefined;
    do {
      const token = next;
      const page = await this.send("describe", "DescribeInstances (satellites' instances)", () =>
        this.ec2.send(
          new DescribeInstancesCommand({
            Filters: [
              { Name: "tag-key", Values: ["satellites:id"] },
              { Name: "instance-state-name", Values: states },
            ],
            MaxResults: 1000,
            NextToken: token,
          }),
        ),
      );
      for (const inst of page.Reservations?.flatMap((r) => r.Instances ?? []) ?? []) {
        const satelliteId = inst.Tags?.find((t) => t.Key === "satellites:id")?.Value;
        if (inst.InstanceId && satelliteId) out.push({ instanceId: inst.InstanceId, satelliteId, launchedAt: inst.LaunchTime ?? new Date(0) });
      }
      next = page.NextToken;
    } while (next);
    return out;
  }

  /** OOM kills from the running satellites' consoles, where user-data's OOM watch copies them (ec2-memory-kills.ts). */
  memoryKillPass(maxMachines: number, turn: number): Promise<ConsoleKillReport[]> {
    const source = {
      running: () => this.satelliteInstances(["running"]),
      console: (instanceId: string) => readConsole(this.ec2, (context, fn) => this.send("describe", context, fn), instanceId),
    };
    return readConsoleKills(source, `/${SLICE_NAME}`, maxMachines, turn);
  }

  async describeMany(instanceIds: string[]): Promise<Map<string, InstanceInfo>> {
    const found = new Map<string, Ec2Instance>();
    // 200 ids per call, as an instance-id filter: unlike InstanceIds, an id EC2 no longer knows
    // does not fail the whole call. A fleet costs a few calls, not one per satellite.
    for (let i = 0; i < instanceIds.length; i += 200) {
      const ids = instanceIds.slice(i, i + 200);
      let next: string | undefined;
      do {
        const token = next;
        const out = await this.send("describe", `DescribeInstances (${ids.length} instances)`, () =>
          this.ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: "instance-id", Values: ids }], MaxResults: 1000, NextToken: token })),
        );
        for (const inst of out.Reservations?.flatMap((r) => r.Instances ?? []) ?? []) if (inst.InstanceId) found.set(inst.InstanceId, inst);
        next = out.NextToken;
      } while (next);
    }
    return new Map(instanceIds.map((id) => [id, this.info(found.get(id) ?? null, id)]));
  }

  async applyLimits(instanceId: string, limits: Limits, spec: Pick<LaunchSpec, "platform" | "size">): Promise<LimitsOutcome> {
    const inst = await this.get(instanceId);
    const text = await this.userData(limits, spec, satelliteIdOf(inst));
    const name = inst.State?.Name;
    if (name === "shutting-down" || name === "terminated") throw new PermanentProviderError(`instance ${instanceId} is terminated`, "InstanceTerminated");
    if (name !== "stopped") return { applied: false, enforced: true, oomScoreEnforced: true };
    try {
      await this.send("mutating", `ModifyInstanceAttribute ${instanceId}`, () =>
        this.ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: instanceId, UserData: { Value: encoder.encode(text) } })),
      );
    } catch (err) {
      // Started in the meantime: the limits stay pending until the next start.
      if (err instanceof RetryableProviderError && err.code === "IncorrectInstanceState") return { applied: false, enforced: true, oomScoreEnforced: true };
      throw err;
    }
    return { applied: true, enforced: true, oomScoreEnforced: true };
  }

  /** Write limits as user-data (instance must be stopped); size and platform come from the instance type. */
  private async writeUserData(instanceId: string, inst: Ec2Instance, limits: Limits): Promise<void> {
    const spec = sizeOfInstanceType(inst.InstanceType ?? "");
    if (!spec) throw new PermanentProviderError(`instance type ${String(inst.InstanceType)} is not a Satellites size`, "UnknownInstanceType");
    const text = await this.userData(limits, spec, satelliteIdOf(inst));
    await this.send("mutating", `ModifyInstanceAttribute ${instanceId}`, () =>
      // The SDK base64-encodes blob values itself.
      this.ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: instanceId, UserData: { Value: encoder.encode(text) } })),
    );
  }

  async resize(instanceId: string, spec: LaunchSpec, opts: ResizeOptions = {}): Promise<Resized> {
    const deadline = Date.now() + this.timeoutMs;
    const instanceType = SIZE_SPECS[spec.size].instanceType[spec.platform];
    // Rendered first: limits the provider cannot render fail before anything changes.
    const userData = await this.userData(spec.limits, spec, spec.satelliteId);
    const old = await this.find(instanceId);
    const gone = isGone(old);
    if (old && !gone && platformOf(old) === spec.platform) return this.resizeInPlace(instanceId, instanceType, userData, deadline, opts);
    return this.replace(instanceId, gone, spec, deadline, opts);
  }

  /** Throws Superseded unless the resize is still the satellite's (asked before stopping a running machine). */
  private async stillResizing(opts: ResizeOptions, instanceId: string): Promise<void> {
    if (opts.stillWanted && !(await opts.stillWanted())) {
      throw new PermanentProviderError(`the satellite moved on since this resize began; ${instanceId} is left as it is`, "Superseded");
    }
  }

  /** Same architecture: the stopped instance takes the new type and user-data; disk (cache) kept. */
  private async resizeInPlace(instanceId: string, instanceType: string, userData: string, deadline: number, opts: ResizeOptions): Promise<Resized> {
    for (;;) {
      const inst = await this.get(instanceId);
      const name = inst.State?.Name;
      if (name === "shutting-down" || name === "terminated") throw new PermanentProviderError(`instance ${instanceId} is terminated`, "InstanceTerminated");
      if (name === "pending" || name === "stopping") {
        await this.waitFor(instanceId, "settled", (i) => i?.State?.Name !== name, deadline);
        continue;
      }
      // The satellite is asleep; an instance running anyway was started outside the product.
      if (name === "running") {
        await this.stillResizing(opts, instanceId);
        await this.stop(instanceId, { hibernate: false });
        continue;
      }
      const retype = inst.InstanceType !== instanceType;
      if (retype && stateOf(inst) === "hibernated") {
        // EC2 cannot change the type of a hibernated instance: resume it, then stop it plainly.
        await this.start(instanceId);
        continue;
      }
      try {
        if (retype) {
          await this.send("mutating", `ModifyInstanceAttribute ${instanceId} InstanceType`, () =>
            this.ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: instanceId, InstanceType: { Value: instanceType } })),
          );
        }
        // One attribute per call (EC2's rule); the new size changes the rendered CPU quota.
        await this.send("mutating", `ModifyInstanceAttribute ${instanceId} UserData`, () =>
          this.ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: instanceId, UserData: { Value: encoder.encode(userData) } })),
        );
      } catch (err) {
        // Started meanwhile: stop it again and retry, within the deadline.
        if (err instanceof RetryableProviderError && err.code === "IncorrectInstanceState" && Date.now() < deadline) {
          await sleep(this.pollMs);
          continue;
        }
        throw err;
      }
      // Hibernation stays configured; should the root volume now be smaller than the RAM, EC2
      // refuses to hibernate and stop() falls back to a plain stop.
      return { instanceId, hibernate: inst.HibernationOptions?.Configured === true, limitsEnforced: true, oomScoreEnforced: true };
    }
  }

  /**
   * Another architecture needs another AMI, i.e. another instance: launch it, stop it (the
   * satellite stays asleep), then terminate the old one. The build cache on the old root volume
   * is lost; the first build on the new platform starts cold. The launch token derives from the
   * old instance id, so a re-run (crash before the new id was recorded) finds the same instance.
   */
  private async replace(oldId: string, oldGone: boolean, spec: LaunchSpec, deadline: number, opts: ResizeOptions): Promise<Resized> {
    const token = launchToken(spec.satelliteId, `resize/${oldId}`);
    let inst = await this.byClientToken(token);
    if (!inst) {
      if (oldGone) throw new PermanentProviderError(`instance ${oldId} is terminated`, "InstanceTerminated");
      inst = await this.run(spec, token, deadline);
    }
    const instanceId = inst.InstanceId!;
    if (stateOf(inst) !== "stopped") await this.stillResizing(opts, instanceId);
    await this.stop(instanceId, { hibernate: false });
    if (!oldGone) await this.terminate(oldId);
    return { instanceId, hibernate: inst.HibernationOptions?.Configured === true, limitsEnforced: true, oomScoreEnforced: true };
  }

  async abandonResize(oldId: string, spec: LaunchSpec): Promise<{ terminated?: string; kept?: string }> {
    const replacement = await this.byClientToken(launchToken(spec.satelliteId, `resize/${oldId}`));
    if (!replacement?.InstanceId || replacement.InstanceId === oldId) return {};
    if (isGone(await this.find(oldId))) return { kept: replacement.InstanceId };
    await this.terminate(replacement.InstanceId);
    return { terminated: replacement.InstanceId };
  }

  /**
   * The live instance launched with this token. Looked up before RunInstances so a re-run whose
   * parameters changed meanwhile (e.g. new limits) does not meet IdempotentParameterMismatch.
   */
  private async byClientToken(token: string): Promise<Ec2Instance | null> {
    const out = await this.send("describe", `DescribeInstances client-token ${token}`, () =>
      this.ec2.send(
        new DescribeInstancesCommand({
          Filters: [
            { Name: "client-token", Values: [token] },
            { Name: "instance-state-name", Values: ["pending", "running", "stopping", "stopped"] },
          ],
        }),
      ),
    );
    return out.Reservations?.flatMap((r) => r.Instances ?? [])[0] ?? null;
  }

  readyLabel(limits: Limits, size: SizeName): WorkerLabel {
    return { key: LIMITS_LABEL, value: limitsLabel(limits, size) };
  }

  /** Its console's last word (user-data's own lines first). */
  diagnose(instanceId: string): Promise<string | null> {
    return readConsoleDiagnosis(this.ec2, (context, fn) => this.send("describe", context, fn), instanceId);
  }

  async close(): Promise<void> {
    this.ec2.destroy();
  }
}

function platformOf(inst: Ec2Instance): PlatformName | undefined {
  if (inst.Architecture === "arm64") return "arm64";
  if (inst.Architecture === "x86_64") return "amd64";
  return sizeOfInstanceType(inst.InstanceType ?? "")?.platform;
}

export function createEc2Provider(opts: Ec2ProviderOptions): Provider {
  return new Ec2Provider(opts);
}
