// The ec2 provider through the real AWS SDK over HTTP against the emulator, whose instances are
// real backend processes: health is probed for real at the upstream the provider reports.
import { DescribeInstancesCommand, StartInstancesCommand, StopInstancesCommand, type EC2Client } from "@aws-sdk/client-ec2";
import { probeHealth, waitHealthy } from "@satellites/backend";
import { defaultLimits, type Limits } from "@satellites/catalog";
import { CertificateAuthority } from "@satellites/pki";
import { EMULATOR_AMIS, startEmulator, type Emulator, type EmulatorOptions } from "@satellites/ec2-emulator";
import { SLEEP_COMMAND, TEST_CREDENTIALS, ec2Client, eventually, freePort, processAlive, processState } from "@satellites/ec2-emulator/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEc2Provider, launchToken, rootVolumeGiB, sizeOfInstanceType, type Ec2ProviderOptions } from "../src/ec2.ts";
import { PermanentProviderError, RetryableProviderError, type LaunchSpec, type Provider } from "../src/types.ts";
import { renderUserData } from "../src/user-data.ts";

/** These tests never probe health, so machines can come and go quickly. */
const FAST = { pendingMs: 100, stoppingMs: 50, shuttingDownMs: 50 };

let seq = 0;
const spec = (over: Partial<LaunchSpec> = {}): LaunchSpec => {
  const size = over.size ?? "xsmall";
  return {
    satelliteId: `sat-${process.pid}-${++seq}`,
    orgId: "org-1",
    name: `s${seq}`,
    platform: "amd64",
    size,
    limits: defaultLimits(size),
    hibernate: true,
    ...over,
  };
};

/** An emulator of sleeping instances whose VPC routes elsewhere (`vpcRoutes`, `vpcPrefixLists`). */
const routedEmulator = async (network: Pick<EmulatorOptions, "vpcRoutes" | "vpcPrefixLists">): Promise<Emulator> =>
  startEmulator({ satellitePort: await freePort(), throttle: false, command: [...SLEEP_COMMAND], timings: FAST, ...network });

const providerFor = (emu: Emulator, over: Partial<Ec2ProviderOptions> = {}): Provider =>
  createEc2Provider({
    region: "us-east-1",
    endpoint: emu.endpoint,
    credentials: TEST_CREDENTIALS,
    amiAmd64: EMULATOR_AMIS.amd64,
    amiArm64: EMULATOR_AMIS.arm64,
    subnetId: "subnet-0a1b2c3d4e5f60708",
    securityGroupIds: ["sg-0a1b2c3d4e5f60708"],
    satellitePort: emu.satellitePort,
    hibernate: true,
    pollIntervalMs: 50,
    timeoutMs: 10_000,
    ...over,
  });

/** Without the permission for `action` the check's part it feeds is skipped: a launch goes ahead, and one whose steps' subnet is inside the VPC is still refused. */
async function checkedWithout(emu: Emulator, action: string): Promise<void> {
  const denyNext = () => emu.control.failNext({ code: "UnauthorizedOperation", status: 403, actions: [action], message: "You are not authorized to perform this operation." });
  denyNext();
  const blind = providerFor(emu);
  await blind.terminate((await blind.launch(spec())).instanceId);
  await blind.close?.();
  denyNext();
  const inside = providerFor(emu, { stepNetwork: { mode: "bridge", subnet: "127.0.200.0/24" } });
  expect(await rejection(inside.launch(spec()))).toMatchObject({ code: "StepSubnetInVpc" });
  await inside.close?.();
}

async function rejection(p: Promise<unknown>): Promise<RetryableProviderError | PermanentProviderError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof RetryableProviderError || err instanceof PermanentProviderError) return err;
    throw err;
  }
  throw new Error("expected a provider error");
}

const userDataOf = (emu: Emulator, id: string): string => Buffer.from(emu.control.instance(id)?.userData ?? "", "base64").toString();

describe("ec2 provider on instances running the real backend", () => {
  let emu: Emulator;
  let provider: Provider;

  beforeAll(async () => {
    emu = await startEmulator({ satellitePort: await freePort(), throttle: false });
    provider = providerFor(emu);
  });
  afterAll(async () => {
    await provider?.close?.();
    await emu?.close();
  });

  it("caps the satellite's processes at EC2_SATELLITE_PIDS_MAX (the slice's TasksMax)", async () => {
    const capped = providerFor(emu, { pidsMax: 1234 });
    try {
      const { instanceId } = await capped.launch(spec({ size: "small" }));
      expect(userDataOf(emu, instanceId)).toMatch(/\[Slice\]\n(.*\n)*TasksMax=1234\n/);
      await capped.terminate(instanceId);
    } finally {
      await capped.close?.();
    }
  });

  it("amd64: launch → healthy → hibernate → resume the same process → stop → limits while stopped → start → terminate", async () => {
    const s = spec({ size: "small" });
    const launched = await provider.launch(s);
    expect(launched).toEqual({ instanceId: expect.stringMatching(/^i-[0-9a-f]{17}$/), hibernate: true, limitsEnforced: true, oomScoreEnforced: true });
    const id = launched.instanceId;

    // What EC2 got: type, hibernation prerequisites, tags, user-data with the limits.
    const snap = emu.control.instance(id);
    expect(snap).toMatchObject({
      instanceType: "t3.medium",
      hibernationConfigured: true,
      // IMDSv2 only, one hop: a build step on the instance's bridge (one hop further) gets no token.
      metadataOptions: { httpTokens: "required", httpPutResponseHopLimit: 1, httpEndpoint: "enabled" },
      tags: { "satellites:id": s.satelliteId, "satellites:org": "org-1", Name: `satellite-${s.name}` },
      // The disk limit (the cache's budget) plus room for the OS and the hibernation image (4 GiB).
      volumes: [{ deviceName: "/dev/xvda", encrypted: true, volumeType: "gp3", sizeGiB: 112 }],
    });
    expect(userDataOf(emu, id)).toBe(renderUserData(s.limits, { platform: "amd64", size: "small", satellitePort: emu.satellitePort }));

    const awake = await provider.describe(id);
    expect(awake).toEqual({ instanceId: id, state: "running", upstream: `${snap?.privateIp}:${emu.satellitePort}` });
    const upstream = awake.upstream ?? "";
    expect(await waitHealthy(upstream, { totalMs: 15_000 })).toBe(true);
    const pid = emu.control.instance(id)?.pid ?? 0;

    // Hibernate: memory kept (the process is frozen, not gone).
    await provider.stop(id, { hibernate: true });
    expect(await provider.describe(id)).toEqual({ instanceId: id, state: "hibernated", upstream: null });
    expect(processState(pid)).toBe("T");
    // Already asleep: success.
    await provider.stop(id, { hibernate: true });

    const resumed = await provider.start(id);
    expect(resumed).toEqual({ instanceId: id, state: "running", upstream });
    expect(await waitHealthy(upstream, { totalMs: 5000 })).toBe(true);
    expect(emu.control.instance(id)).toMatchObject({ pid, processStarts: 1 });
    // Already running: success, nothing changes.
    expect(await provider.start(id)).toEqual(resumed);

    // Limits change while awake: pending until the next start.
    const newer: Limits = { ...s.limits, cpuPercent: 60, memoryMiB: 2048 };
    expect(await provider.applyLimits(id, newer, s)).toEqual({ applied: false, enforced: true, oomScoreEnforced: true });
    expect(userDataOf(emu, id)).toContain("CPUQuota=190%");

    await provider.stop(id, { hibernate: false });
    expect((await provider.describe(id)).state).toBe("stopped");
    expect(processAlive(pid)).toBe(false);

    // While stopped they are written at once.
    expect(await provider.applyLimits(id, newer, s)).toEqual({ applied: true, enforced: true, oomScoreEnforced: true });
    expect(userDataOf(emu, id)).toContain("CPUQuota=120%\nMemoryMax=2048M\n");

    // pendingLimits are written before the instance boots.
    const started = await provider.start(id, { pendingLimits: { ...newer, cpuPercent: 80 } });
    expect(started).toEqual({ instanceId: id, state: "running", upstream });
    expect(userDataOf(emu, id)).toContain("CPUQuota=160%\n");
    expect(await waitHealthy(upstream, { totalMs: 15_000 })).toBe(true);
    expect(emu.control.instance(id)?.processStarts).toBe(2);

    await provider.terminate(id);
    expect(await provider.describe(id)).toEqual({ instanceId: id, state: "terminated", upstream: null });
    expect(emu.control.instance(id)?.process).toBe("none");
    await provider.terminate(id);
    expect(await rejection(provider.start(id))).toBeInstanceOf(PermanentProviderError);
    expect(await rejection(provider.applyLimits(id, newer, s))).toBeInstanceOf(PermanentProviderError);
  });

  it("arm64: no hibernation configured; stop is always plain (process gone), start boots a new one", async () => {
    const s = spec({ platform: "arm64", size: "xsmall" });
    const { instanceId: id, hibernate } = await provider.launch(s);
    expect(hibernate).toBe(false);
    expect(emu.control.instance(id)).toMatchObject({ instanceType: "t4g.small", architecture: "arm64", hibernationConfigured: false });
    const { upstream } = await provider.describe(id);
    expect(await waitHealthy(upstream ?? "", { totalMs: 15_000 })).toBe(true);
    const pid = emu.control.instance(id)?.pid ?? 0;

    await provider.stop(id, { hibernate: true });
    expect((await provider.describe(id)).state).toBe("stopped");
    expect(processAlive(pid)).toBe(false);
    expect(await probeHealth(upstream ?? "", { timeoutMs: 300 })).toBe("UNREACHABLE");

    expect((await provider.start(id)).upstream).toBe(upstream);
    expect(await waitHealthy(upstream ?? "", { totalMs: 15_000 })).toBe(true);
    expect(emu.control.instance(id)?.processStarts).toBe(2);
    await provider.terminate(id);
  });

  it("operator switch off: x86 launches without hibernation and stops plainly", async () => {
    const plain = providerFor(emu, { hibernate: false });
    const { instanceId: id, hibernate } = await plain.launch(spec({ size: "xsmall" }));
    expect(hibernate).toBe(false);
    await plain.stop(id, { hibernate: true });
    expect((await plain.describe(id)).state).toBe("stopped");
    await plain.terminate(id);
    await plain.close?.();
  });
});

describe("ec2 provider: idempotency, races and errors", () => {
  let emu: Emulator;
  let provider: Provider;
  let ec2: EC2Client;

  beforeAll(async () => {
    emu = await startEmulator({ satellitePort: await freePort(), throttle: false, command: [...SLEEP_COMMAND], timings: FAST });
    provider = providerFor(emu);
    ec2 = ec2Client(emu.endpoint);
  });
  afterAll(async () => {
    ec2?.destroy();
    await provider?.close?.();
    await emu?.close();
  });

  it("a re-run launch returns the same instance; after a terminate, a new one (and that one again)", async () => {
    const s = spec();
    const first = await provider.launch(s);
    expect((await provider.launch(s)).instanceId).toBe(first.instanceId);
    expect(emu.control.instances().filter((i) => i.tags["satellites:id"] === s.satelliteId)).toHaveLength(1);

    await provider.terminate(first.instanceId);
    const second = await provider.launch(s);
    expect(second.instanceId).not.toBe(first.instanceId);
    expect((await provider.launch(s)).instanceId).toBe(second.instanceId);
    expect(launchToken(s.satelliteId)).toMatch(/^sat-[0-9a-f]{48}$/);
    expect(launchToken(s.satelliteId, first.instanceId)).not.toBe(launchToken(s.satelliteId));
    await provider.terminate(second.instanceId);
  });

  // Two jobs processes launching one satellite at once (a job copy that lost its lock): each
  // renders user-data with a server certificate of its own, so the second RunInstances with the
  // same token differs and EC2 answers IdempotentParameterMismatch. That is the other process's
  // launch, not a failure: the instance is adopted, as one found by the token beforehand is.
  it("a launch whose token another process used meanwhile, with other user-data, adopts that instance", async () => {
    const { ca } = await CertificateAuthority.create("launch race CA");
    const [first, second] = [providerFor(emu, { ca }), providerFor(emu, { ca })];
    try {
      const s = spec();
      // The first one's look-up by token answers late, and empty: it will run the instance too.
      emu.control.failNext({ hangMs: 1500, actions: ["DescribeInstances"], count: 1 });
      const a = first.launch(s);
      await new Promise((r) => setTimeout(r, 300));
      const b = await second.launch(s);
      expect((await a).instanceId).toBe(b.instanceId);
      expect(emu.control.instances().filter((i) => i.tags["satellites:id"] === s.satelliteId)).toHaveLength(1);
      await first.terminate(b.instanceId);
    } finally {
      await Promise.all([first.close?.(), second.close?.()]);
    }
  });

  it("stop while pending and start while stopping wait for the transition instead of failing", async () => {
    const { instanceId: id } = await provider.launch(spec({ hibernate: false }));
    emu.control.reset();
    // Long enough that the provider's call surely lands inside the transition.
    emu.control.setTimings({ pendingMs: 600, stoppingMs: 600 });
    try {
      await ec2.send(new StopInstancesCommand({ InstanceIds: [id] }));
      await eventually(async () => (await provider.describe(id)).state === "stopped", 3000, "stopped");
      const starting = await ec2.send(new StartInstancesCommand({ InstanceIds: [id] }));
      expect(starting.StartingInstances?.[0]?.CurrentState?.Name).toBe("pending");
      await provider.stop(id, { hibernate: false }); // EC2 says IncorrectInstanceState while pending
      expect((await provider.describe(id)).state).toBe("stopped");

      await ec2.send(new StartInstancesCommand({ InstanceIds: [id] }));
      await eventually(async () => (await provider.describe(id)).state === "running", 3000, "running");
      const stopping = await ec2.send(new StopInstancesCommand({ InstanceIds: [id] }));
      expect(stopping.StoppingInstances?.[0]?.CurrentState?.Name).toBe("stopping");
      const info = await provider.start(id); // EC2 says IncorrectInstanceState while stopping
      expect(info.state).toBe("running");
      expect(emu.control.stats().errors).toEqual({});
    } finally {
      emu.control.setTimings(FAST);
    }
    await provider.terminate(id);
  });

  // EC2 is eventually consistent: DescribeInstances may still say "running" just after
  // StopInstances was accepted (AWS's own InstanceStopped waiter keeps polling through it).
  it("a stop whose first polls still read running (EC2's reads lag) waits for stopped instead of failing", async () => {
    const { instanceId: id } = await provider.launch(spec({ hibernate: false }));
    emu.control.setInstanceFaults(id, { readLagMs: 1500 });
    emu.control.setTimings({ stoppingMs: 2000 });
    try {
      await eventually(async () => (await provider.describe(id)).state === "running", 3000, "running, as read");
      await provider.stop(id, { hibernate: false });
      expect(emu.control.instance(id)!.state).toBe("stopped");
    } finally {
      emu.control.setInstanceFaults(id, null);
      emu.control.setTimings(FAST);
    }
    await provider.terminate(id);
  });

  // A sleep job's late copy (its lock lost in a Redis outage; the first copy finished the sleep)
  // reaches the instance while a wake is starting it: having waited out `pending`, it must not
  // stop the machine just woken. It asks whether the stop is still wanted before each request.
  it("a stop that waited out a start asks whether it is still wanted, and leaves the woken machine running", async () => {
    const { instanceId: id } = await provider.launch(spec({ hibernate: false }));
    await provider.stop(id, { hibernate: false });
    emu.control.reset();
    emu.control.setTimings({ pendingMs: 600 });
    try {
      await ec2.send(new StartInstancesCommand({ InstanceIds: [id] }));
      const asked: string[] = [];
      await provider.stop(id, { hibernate: false, stillWanted: async () => (asked.push((await provider.describe(id)).state), false) });
      expect(asked).toEqual(["running"]);
      expect((await provider.describe(id)).state).toBe("running");
      expect(emu.control.stats().requests.StopInstances ?? 0).toBe(0);
      // Still wanted: stopped as before.
      await provider.stop(id, { hibernate: false, stillWanted: async () => true });
      expect((await provider.describe(id)).state).toBe("stopped");
    } finally {
      emu.control.setTimings(FAST);
    }
    await provider.terminate(id);
  });

  it("throttling surfaces as RetryableProviderError(RequestLimitExceeded) after the SDK's retries", async () => {
    const { instanceId: id } = await provider.launch(spec({ hibernate: false }));
    await provider.stop(id, { hibernate: false });
    emu.control.reset();
    emu.control.setThrottle("StartInstances", { burst: 1, perSecond: 0.001 });
    emu.control.drainBucket("StartInstances");
    const err = await rejection(provider.start(id));
    expect(err).toBeInstanceOf(RetryableProviderError);
    expect(err.code).toBe("RequestLimitExceeded");
    expect(emu.control.stats().throttled).toEqual({ StartInstances: 3 });
    emu.control.setThrottle("StartInstances", null);
    await provider.terminate(id);
  });

  it("InsufficientInstanceCapacity: one blip is absorbed by the SDK's retries; a shortage is RetryableProviderError", async () => {
    const { instanceId: id } = await provider.launch(spec({ hibernate: false }));
    await provider.stop(id, { hibernate: false });
    emu.control.insufficientCapacity(1);
    expect((await provider.start(id)).state).toBe("running");
    await provider.stop(id, { hibernate: false });

    emu.control.insufficientCapacity(5);
    const err = await rejection(provider.start(id));
    expect(err).toBeInstanceOf(RetryableProviderError);
    expect(err.code).toBe("InsufficientInstanceCapacity");
    emu.control.reset();

    emu.control.insufficientCapacity(5);
    expect((await rejection(provider.launch(spec()))).code).toBe("InsufficientInstanceCapacity");
    emu.control.reset();
    await provider.terminate(id);
  });

  it("a start that outlasts timeoutMs is RetryableProviderError(Timeout)", async () => {
    const impatient = providerFor(emu, { timeoutMs: 500 });
    const { instanceId: id } = await provider.launch(spec({ hibernate: false }));
    await provider.stop(id, { hibernate: false });
    emu.control.setInstanceFaults(id, { extraStartDelayMs: 3000 });
    const err = await rejection(impatient.start(id));
    expect(err).toMatchObject({ name: "RetryableProviderError", code: "Timeout" });
    await impatient.close?.();
    await provider.terminate(id);
  });

  it("start with pending limits on an instance running already: says they were not written (user-data unchanged)", async () => {
    const s = spec({ hibernate: false });
    const { instanceId: id } = await provider.launch(s);
    await eventually(async () => emu.control.instance(id)?.state === "running", 3000, "running");
    const before = emu.control.instance(id)?.userData;
    const info = await provider.start(id, { pendingLimits: { ...s.limits, cpuPercent: 33 } });
    expect(info.state).toBe("running");
    expect(info.pendingLimitsWritten).toBe(false);
    expect(emu.control.instance(id)?.userData).toBe(before);
    await provider.terminate(id);
  });

  it("an EC2 answer that never comes: the attempt times out and is retried, the call completes (the stop had happened)", { timeout: 20_000 }, async () => {
    const patient = providerFor(emu, { requestTimeoutMs: 1_000 });
    const { instanceId: id } = await provider.launch(spec({ hibernate: false }));
    await eventually(async () => emu.control.instance(id)?.state === "running", 3000, "running");
    // StopInstances is carried out, but its answer is held far beyond the job's patience.
    emu.control.failNext({ actions: ["StopInstances"], hangMs: 60_000 });
    const began = Date.now();
    await patient.stop(id, { hibernate: false });
    expect(Date.now() - began).toBeLessThan(10_000);
    expect(emu.control.instance(id)?.state).toBe("stopped");
    expect(emu.control.stats().requests.StopInstances).toBeGreaterThanOrEqual(2);
    await patient.close?.();
    await provider.terminate(id);
  });

  it("permanent errors: unknown AMI, no AMI configured, unknown instance, auth failure", async () => {
    const badAmi = providerFor(emu, { amiAmd64: "ami-0fffffffffffffff0" });
    expect(await rejection(badAmi.launch(spec()))).toMatchObject({ name: "PermanentProviderError", code: "InvalidAMIID.NotFound" });
    await badAmi.close?.();
    const noArm = providerFor(emu, { amiArm64: undefined });
    expect(await rejection(noArm.launch(spec({ platform: "arm64" })))).toMatchObject({ name: "PermanentProviderError", code: "NoImage" });
    await noArm.close?.();

    expect(await provider.describe("i-0123456789abcdef0")).toEqual({ instanceId: "i-0123456789abcdef0", state: "missing", upstream: null });
    await provider.terminate("i-0123456789abcdef0");
    expect(await rejection(provider.start("i-0123456789abcdef0"))).toMatchObject({ name: "PermanentProviderError", code: "InvalidInstanceID.NotFound" });

    emu.control.failNext({ code: "AuthFailure", status: 401, actions: ["DescribeInstances"], message: "AWS was not able to validate the provided access credentials" });
    expect(await rejection(provider.describe("i-0123456789abcdef0"))).toMatchObject({ name: "PermanentProviderError", code: "AuthFailure" });
    emu.control.reset();
  });

  it("limits the provider cannot render are refused before any EC2 call", async () => {
    const fresh = providerFor(emu);
    const before = emu.control.stats().requests;
    const err = await rejection(fresh.launch(spec({ limits: { ...defaultLimits("xsmall"), memoryMiB: 99_999 } })));
    await fresh.close?.();
    expect(err).toMatchObject({ name: "PermanentProviderError", code: "InvalidLimits" });
    // Only the look-up of an earlier attempt's instance (by its client token): nothing else.
    const after = emu.control.stats().requests;
    for (const action of ["RunInstances", "DescribeVpcs", "DescribeSubnets"]) expect(after[action] ?? 0, action).toBe(before[action] ?? 0);
  });

  it("a steps' subnet inside the launch VPC is refused before any instance is launched, naming the VPC's block; outside it, launches go ahead", async () => {
    const before = emu.control.stats().requests.RunInstances ?? 0;
    // The emulator's VPC is 127.0.0.0/16, where its instances' addresses are.
    const inside = providerFor(emu, { stepNetwork: { mode: "bridge", subnet: "127.0.200.0/24" } });
    const err = await rejection(inside.launch(spec()));
    await inside.close?.();
    expect(err).toMatchObject({ name: "PermanentProviderError", code: "StepSubnetInVpc" });
    expect(err.message).toContain("the build steps' subnet 127.0.200.0/24 (EC2_BUILDKIT_SUBNET) overlaps 127.0.0.0/16 of vpc-0e1a2b3c4d5e6f700");
    expect(emu.control.stats().requests.RunInstances ?? 0).toBe(before);
    // Steps on the instance's network have no subnet to collide.
    const host = providerFor(emu, { stepNetwork: { mode: "host" } });
    const launched = await host.launch(spec());
    await host.terminate(launched.instanceId);
    await host.close?.();
    // The check asked EC2 once per provider, not once per launch.
    const describes = emu.control.stats().requests.DescribeVpcs ?? 0;
    await provider.terminate((await provider.launch(spec())).instanceId);
    await provider.terminate((await provider.launch(spec())).instanceId);
    expect((emu.control.stats().requests.DescribeVpcs ?? 0) - describes).toBeLessThanOrEqual(1);
  });

  it("a VPC with a second CIDR block that holds the default steps' subnet refuses too", async () => {
    const wide = await startEmulator({ satellitePort: await freePort(), throttle: false, command: [...SLEEP_COMMAND], timings: FAST, vpcCidrs: ["10.10.0.0/16"] });
    const p = providerFor(wide);
    try {
      const err = await rejection(p.launch(spec()));
      expect(err).toMatchObject({ code: "StepSubnetInVpc" });
      expect(err.message).toContain("10.10.0.0/24 (EC2_BUILDKIT_SUBNET) overlaps 10.10.0.0/16");
      // Without the permission to ask, the check steps aside rather than block every launch.
      wide.control.failNext({ code: "UnauthorizedOperation", status: 403, actions: ["DescribeSubnets"], message: "You are not authorized to perform this operation." });
      const blind = providerFor(wide);
      const launched = await blind.launch(spec());
      await blind.terminate(launched.instanceId);
      await blind.close?.();
    } finally {
      await p.close?.();
      await wide.close();
    }
  });

  it("a steps' subnet inside a network the VPC routes to (a peered VPC, a transit gateway) is refused too, naming the route", async () => {
    // Where the proxies might run: a peered VPC, and a corporate network behind a transit gateway.
    const routed = await routedEmulator({
      vpcRoutes: [
        { destination: "10.10.0.0/16", target: "pcx-0a1b2c3d4e5f60718" },
        { destination: "192.168.0.0/16", target: "tgw-0a1b2c3d4e5f60718" },
      ],
    });
    const p = providerFor(routed);
    const beside = providerFor(routed, { stepNetwork: { mode: "bridge", subnet: "172.30.0.0/24" } });
    try {
      const err = await rejection(p.launch(spec()));
      expect(err).toMatchObject({ name: "PermanentProviderError", code: "StepSubnetInVpc" });
      expect(err.message).toContain("10.10.0.0/24 (EC2_BUILDKIT_SUBNET) overlaps 10.10.0.0/16, which vpc-0e1a2b3c4d5e6f700 routes through pcx-0a1b2c3d4e5f60718");
      const tgw = providerFor(routed, { stepNetwork: { mode: "bridge", subnet: "192.168.7.0/24" } });
      expect((await rejection(tgw.launch(spec()))).message).toContain("overlaps 192.168.0.0/16, which vpc-0e1a2b3c4d5e6f700 routes through tgw-0a1b2c3d4e5f60718");
      await tgw.close?.();
      // A range neither the VPC nor its routes use (the default route to the internet aside).
      const launched = await beside.launch(spec());
      await beside.terminate(launched.instanceId);
      // Without the permission to read route tables, the VPC's own blocks are still checked.
      await checkedWithout(routed, "DescribeRouteTables");
    } finally {
      await p.close?.();
      await beside.close?.();
      await routed.close();
    }
  });

  it("a route to a managed prefix list (a corporate network's ranges behind a transit gateway) is checked entry by entry, across pages", async () => {
    const LIST = "pl-0a1b2c3d4e5f60718";
    // 150 ranges, more than one page (GetManagedPrefixListEntries answers 100 at most); the one
    // the default steps' subnet falls in comes last, and an IPv6 range is among them.
    const corporate = [...Array.from({ length: 148 }, (_, i) => `172.16.${i}.0/24`), "2001:db8::/32", "10.10.0.0/16"];
    // And a route to a list that is gone (EC2 answers InvalidPrefixListID.NotFound): left out.
    const listed = await routedEmulator({
      vpcRoutes: [
        { destination: LIST, target: "tgw-0a1b2c3d4e5f60718" },
        { destination: "pl-0ffffffffffffffff", target: "tgw-0a1b2c3d4e5f60718" },
      ],
      vpcPrefixLists: { [LIST]: corporate },
    });
    const p = providerFor(listed);
    try {
      const err = await rejection(p.launch(spec()));
      expect(err).toMatchObject({ name: "PermanentProviderError", code: "StepSubnetInVpc" });
      expect(err.message).toContain(`10.10.0.0/24 (EC2_BUILDKIT_SUBNET) overlaps 10.10.0.0/16, which vpc-0e1a2b3c4d5e6f700 routes through tgw-0a1b2c3d4e5f60718 (prefix list ${LIST})`);
      expect(listed.control.requestTimes("GetManagedPrefixListEntries")).toHaveLength(3);
      // A range none of the list's entries (nor the VPC) uses launches.
      const beside = providerFor(listed, { stepNetwork: { mode: "bridge", subnet: "172.17.0.0/24" } });
      await beside.terminate((await beside.launch(spec())).instanceId);
      await beside.close?.();
      // Without ec2:GetManagedPrefixListEntries, the list's ranges are unknown: the rest of the check stands.
      await checkedWithout(listed, "GetManagedPrefixListEntries");
    } finally {
      await p.close?.();
      await listed.close();
    }
  });

  it("an unreachable endpoint is RetryableProviderError", async () => {
    const port = await freePort();
    const offline = createEc2Provider({
      region: "us-east-1",
      endpoint: `http://127.0.0.1:${port}`,
      credentials: TEST_CREDENTIALS,
      satellitePort: 8372,
      hibernate: true,
      maxAttempts: 1,
    });
    const err = await rejection(offline.describe("i-0123456789abcdef0"));
    expect(err).toBeInstanceOf(RetryableProviderError);
    expect(err.code).toBe("ECONNREFUSED");
    await offline.close?.();
  });

  it("describeMany: the whole fleet in one DescribeInstances call; unknown and terminated ids are reported, not errors", async () => {
    const a = (await provider.launch(spec({ hibernate: false }))).instanceId;
    const b = (await provider.launch(spec({ hibernate: false }))).instanceId;
    await provider.stop(b, { hibernate: false });
    const c = (await provider.launch(spec({ hibernate: false }))).instanceId;
    await provider.terminate(c);
    const before = emu.control.stats().requests.DescribeInstances ?? 0;
    const infos = await provider.describeMany([a, b, c, "i-0123456789abcdef0"]);
    expect(emu.control.stats().requests.DescribeInstances ?? 0).toBe(before + 1);
    expect(infos.get(a)).toEqual(await provider.describe(a));
    expect(infos.get(a)?.state).toBe("running");
    expect(infos.get(b)?.state).toBe("stopped");
    expect(["terminated", "missing"]).toContain(infos.get(c)?.state);
    expect(infos.get("i-0123456789abcdef0")?.state).toBe("missing");
    await provider.terminate(a);
    await provider.terminate(b);
  });

  it("tags and filters find a satellite's instance", async () => {
    const s = spec();
    const { instanceId } = await provider.launch(s);
    const out = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: "tag:satellites:id", Values: [s.satelliteId] }] }));
    expect(out.Reservations?.flatMap((r) => r.Instances ?? []).map((i) => i.InstanceId)).toEqual([instanceId]);
    await provider.terminate(instanceId);
  });
});

describe("ec2 provider: resize", () => {
  let emu: Emulator;
  let provider: Provider;

  beforeAll(async () => {
    emu = await startEmulator({ satellitePort: await freePort(), throttle: false, command: [...SLEEP_COMMAND], timings: FAST });
    provider = providerFor(emu);
  });
  afterAll(async () => {
    await provider?.close?.();
    await emu?.close();
  });

  const ofSatellite = (satelliteId: string) => emu.control.instances().filter((i) => i.tags["satellites:id"] === satelliteId);

  it("same platform: the stopped instance keeps its id (and disk) and takes the new type and limits; a re-run changes nothing", async () => {
    const s = spec({ size: "small" });
    const { instanceId: id } = await provider.launch(s);
    await provider.stop(id, { hibernate: false });
    const next = { ...s, size: "large" as const, limits: { ...defaultLimits("large"), cpuPercent: 50 } };
    expect(await provider.resize(id, next)).toEqual({ instanceId: id, hibernate: true, limitsEnforced: true, oomScoreEnforced: true });
    expect(emu.control.instance(id)).toMatchObject({ instanceType: "t3.xlarge", state: "stopped", hibernationConfigured: true, volumes: [expect.objectContaining({ sizeGiB: 112 })] });
    expect(userDataOf(emu, id)).toBe(renderUserData(next.limits, { platform: "amd64", size: "large", satellitePort: emu.satellitePort }));
    expect(userDataOf(emu, id)).toContain("CPUQuota=200%"); // 50 % of 4 vCPUs

    expect(await provider.resize(id, next)).toEqual({ instanceId: id, hibernate: true, limitsEnforced: true, oomScoreEnforced: true });
    expect(ofSatellite(s.satelliteId)).toHaveLength(1);
    // It boots as the new size.
    expect((await provider.start(id)).state).toBe("running");
    expect(emu.control.instance(id)).toMatchObject({ instanceType: "t3.xlarge", state: "running" });
    await provider.terminate(id);
  });

  it("same platform, hibernated or running: brought to a plain stop first (EC2 cannot retype a hibernated instance)", async () => {
    const s = spec({ size: "small" });
    const { instanceId: id } = await provider.launch(s);
    await provider.stop(id, { hibernate: true });
    expect(emu.control.instance(id)).toMatchObject({ hibernated: true });
    await provider.resize(id, { ...s, size: "xsmall", limits: defaultLimits("xsmall") });
    expect(emu.control.instance(id)).toMatchObject({ instanceType: "t3.small", state: "stopped", hibernated: false, process: "none" });

    // Running although the satellite is asleep (started outside the product): stopped, then changed.
    await provider.start(id);
    await provider.resize(id, { ...s, size: "medium", limits: defaultLimits("medium") });
    expect(emu.control.instance(id)).toMatchObject({ instanceType: "t3.large", state: "stopped", hibernated: false });
    await provider.terminate(id);
  });

  // A resize job's late copy (its lock lost; the first copy finished and the satellite was woken
  // since) finds the machine running: it must not stop it, in place or after a replacement.
  it("a resize that finds the machine running asks whether it is still wanted, and leaves a woken machine alone", async () => {
    const s = spec({ size: "small" });
    const { instanceId: id } = await provider.launch(s);
    const next = { ...s, size: "medium" as const, limits: defaultLimits("medium") };
    const stale = async () => false;
    expect(await rejection(provider.resize(id, next, { stillWanted: stale }))).toMatchObject({ name: "PermanentProviderError", code: "Superseded" });
    expect(emu.control.instance(id)).toMatchObject({ instanceType: "t3.medium", state: "running" });
    // The replacement a platform change launched, found again by its token and woken since.
    await provider.stop(id, { hibernate: false });
    const other = { ...s, platform: "arm64" as const, hibernate: false };
    const replaced = await provider.resize(id, other);
    await provider.start(replaced.instanceId);
    expect(await rejection(provider.resize(id, other, { stillWanted: stale }))).toMatchObject({ code: "Superseded" });
    expect(emu.control.instance(replaced.instanceId)).toMatchObject({ state: "running" });
    await provider.terminate(replaced.instanceId);
  });

  it("platform change: a new stopped instance of the other architecture, the old one terminated; a re-run finds the same one", async () => {
    const s = spec({ size: "small", platform: "amd64" });
    const { instanceId: old } = await provider.launch(s);
    await provider.stop(old, { hibernate: true });
    const next = { ...s, platform: "arm64" as const, size: "medium" as const, limits: defaultLimits("medium"), hibernate: false };
    const resized = await provider.resize(old, next);
    expect(resized).toEqual({ instanceId: expect.stringMatching(/^i-[0-9a-f]{17}$/), hibernate: false, limitsEnforced: true, oomScoreEnforced: true });
    expect(resized.instanceId).not.toBe(old);
    expect(emu.control.instance(resized.instanceId)).toMatchObject({
      instanceType: "t4g.large",
      architecture: "arm64",
      state: "stopped",
      hibernationConfigured: false,
      tags: { "satellites:id": s.satelliteId, "satellites:org": s.orgId },
    });
    expect(userDataOf(emu, resized.instanceId)).toBe(renderUserData(next.limits, { platform: "arm64", size: "medium", satellitePort: emu.satellitePort }));
    expect(emu.control.instance(old)?.state).toMatch(/shutting-down|terminated/);

    // Giving up now must not take the new instance: the old one is gone, so it is the satellite.
    expect(await provider.abandonResize(old, next)).toEqual({ kept: resized.instanceId });
    expect(emu.control.instance(resized.instanceId)?.state).toBe("stopped");

    // A worker that died before recording the new id runs it again: same instance, no third one.
    expect(await provider.resize(old, next)).toEqual(resized);
    expect(ofSatellite(s.satelliteId).filter((i) => i.state !== "terminated" && i.state !== "shutting-down").map((i) => i.instanceId)).toEqual([resized.instanceId]);
    expect(ofSatellite(s.satelliteId)).toHaveLength(2);

    // And back to amd64: hibernation configured again (x86), on yet another instance.
    const back = await provider.resize(resized.instanceId, { ...next, platform: "amd64", hibernate: true });
    expect(back.instanceId).not.toBe(resized.instanceId);
    expect(back.hibernate).toBe(true);
    expect(emu.control.instance(back.instanceId)).toMatchObject({ instanceType: "t3.large", architecture: "x86_64", state: "stopped", hibernationConfigured: true });
    await provider.terminate(back.instanceId);
    // Nothing was launched for a resize of `back`: nothing to abandon.
    expect(await provider.abandonResize(back.instanceId, next)).toEqual({});
  });

  it("an instance that is gone cannot be resized in place: PermanentProviderError", async () => {
    const s = spec();
    const { instanceId: id } = await provider.launch(s);
    await provider.terminate(id);
    expect(await rejection(provider.resize(id, { ...s, size: "small", limits: defaultLimits("small") }))).toMatchObject({ name: "PermanentProviderError", code: "InstanceTerminated" });
    expect(await rejection(provider.resize(id, { ...s, platform: "arm64", hibernate: false }))).toMatchObject({ name: "PermanentProviderError", code: "InstanceTerminated" });
    expect(await rejection(provider.resize("i-0123456789abcdef0", s))).toMatchObject({ name: "PermanentProviderError" });
  });
});

describe("ec2 provider helpers", () => {
  it("maps instance types back to sizes and sizes the root volume for hibernation and cache", () => {
    expect(sizeOfInstanceType("t3.xlarge")).toEqual({ size: "large", platform: "amd64" });
    expect(sizeOfInstanceType("t4g.2xlarge")).toEqual({ size: "xlarge", platform: "arm64" });
    expect(sizeOfInstanceType("m5.large")).toBeNull();
    // The cache's budget (the disk limit) next to the OS and, with hibernation, the RAM's image:
    // Earthly's BuildKit keeps its cache at the budget and no free-space floor, so a volume no
    // larger than the budget filled up, and builds, buildkitd and the next boot's script failed.
    expect(rootVolumeGiB("xlarge", 20, true)).toBe(20 + 32 + 8);
    expect(rootVolumeGiB("xsmall", 20, true)).toBe(20 + 2 + 8);
    expect(rootVolumeGiB("small", 100, true)).toBe(100 + 4 + 8);
    expect(rootVolumeGiB("small", 100, false)).toBe(100 + 8);
  });
});
