// The emulator through the real AWS SDK over HTTP: instance lifecycle backed by the real backend
// program, EC2's state rules, hibernation prerequisites, throttling and injected faults.
import {
  DescribeInstanceAttributeCommand,
  DescribeInstancesCommand,
  GetConsoleOutputCommand,
  ModifyInstanceAttributeCommand,
  RunInstancesCommand,
  StartInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
  type EC2Client,
  type RunInstancesCommandInput,
} from "@aws-sdk/client-ec2";
import { probeHealth, waitHealthy } from "@satellites/backend";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EMULATOR_AMIS, startEmulator, type Emulator } from "../src/index.ts";
import { SLEEP_COMMAND, ec2Client, eventually, freePort, processAlive, processState } from "../src/testing.ts";

const x86Launch = (over: Partial<RunInstancesCommandInput> = {}): RunInstancesCommandInput => ({
  ImageId: EMULATOR_AMIS.amd64,
  InstanceType: "t3.small",
  MinCount: 1,
  MaxCount: 1,
  HibernationOptions: { Configured: true },
  BlockDeviceMappings: [{ DeviceName: "/dev/xvda", Ebs: { VolumeSize: 20, VolumeType: "gp3", Encrypted: true } }],
  TagSpecifications: [{ ResourceType: "instance", Tags: [{ Key: "satellites:id", Value: "sat-1" }, { Key: "Name", Value: "one" }] }],
  UserData: Buffer.from("#!/bin/sh\necho hi\n").toString("base64"),
  ...over,
});

async function ec2Error(p: Promise<unknown>): Promise<{ name: string; status: number | undefined; message: string; attempts: number | undefined }> {
  try {
    await p;
  } catch (err) {
    const e = err as { name: string; message: string; $metadata?: { httpStatusCode?: number; attempts?: number } };
    return { name: e.name, status: e.$metadata?.httpStatusCode, message: e.message, attempts: e.$metadata?.attempts };
  }
  throw new Error("expected the call to fail");
}

async function describeOne(ec2: EC2Client, id: string) {
  const out = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
  const inst = out.Reservations?.[0]?.Instances?.[0];
  if (!inst) throw new Error(`no instance ${id}`);
  return inst;
}

const stateOf = async (ec2: EC2Client, id: string) => (await describeOne(ec2, id)).State?.Name;

describe("instances backed by the real backend program", () => {
  let emu: Emulator;
  let ec2: EC2Client;

  beforeAll(async () => {
    emu = await startEmulator({ satellitePort: await freePort(), throttle: false });
    ec2 = ec2Client(emu.endpoint);
  });
  afterAll(async () => {
    ec2?.destroy();
    await emu?.close();
  });

  it("runs, hibernates (process frozen), resumes the same process, stops (process gone), starts a new one, terminates", async () => {
    const run = await ec2.send(new RunInstancesCommand(x86Launch()));
    const id = run.Instances?.[0]?.InstanceId ?? "";
    expect(run.Instances?.[0]?.State).toEqual({ Code: 0, Name: "pending" });

    await eventually(async () => (await stateOf(ec2, id)) === "running", 3000, "running");
    const inst = await describeOne(ec2, id);
    expect(inst).toMatchObject({
      InstanceType: "t3.small",
      Architecture: "x86_64",
      HibernationOptions: { Configured: true },
      State: { Code: 16, Name: "running" },
    });
    expect(inst.Tags).toEqual(expect.arrayContaining([{ Key: "satellites:id", Value: "sat-1" }]));
    const ip = inst.PrivateIpAddress ?? "";
    expect(ip).toMatch(/^127\.0\.\d+\.\d+$/);
    const upstream = `${ip}:${emu.satellitePort}`;
    expect(await waitHealthy(upstream, { totalMs: 15_000 })).toBe(true);
    const pid = emu.control.instance(id)?.pid ?? 0;
    expect(pid).toBeGreaterThan(0);

    // Hibernate: memory (the process) kept, but frozen.
    const stopping = await ec2.send(new StopInstancesCommand({ InstanceIds: [id], Hibernate: true }));
    expect(stopping.StoppingInstances?.[0]).toMatchObject({ CurrentState: { Name: "stopping" }, PreviousState: { Name: "running" } });
    await eventually(async () => (await stateOf(ec2, id)) === "stopped", 3000, "stopped");
    const hibernated = await describeOne(ec2, id);
    expect(hibernated.StateReason?.Code).toBe("Client.UserInitiatedHibernate");
    expect(processState(pid)).toBe("T");
    expect(await probeHealth(upstream, { timeoutMs: 300 })).toBe("UNREACHABLE");

    // Resume: the same process, thawed.
    const resuming = await ec2.send(new StartInstancesCommand({ InstanceIds: [id] }));
    expect(resuming.StartingInstances?.[0]).toMatchObject({ CurrentState: { Name: "pending" }, PreviousState: { Name: "stopped" } });
    await eventually(async () => (await stateOf(ec2, id)) === "running", 3000, "running again");
    expect(await waitHealthy(upstream, { totalMs: 5000 })).toBe(true);
    expect(emu.control.instance(id)).toMatchObject({ pid, processStarts: 1, process: "running" });

    // Plain stop: the process ends.
    await ec2.send(new StopInstancesCommand({ InstanceIds: [id] }));
    await eventually(async () => (await stateOf(ec2, id)) === "stopped", 5000, "stopped");
    expect((await describeOne(ec2, id)).StateReason?.Code).toBe("Client.UserInitiatedShutdown");
    expect(processAlive(pid)).toBe(false);

    // User data can change only now.
    await ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: id, UserData: { Value: new TextEncoder().encode("new limits") } }));
    const attr = await ec2.send(new DescribeInstanceAttributeCommand({ InstanceId: id, Attribute: "userData" }));
    expect(Buffer.from(attr.UserData?.Value ?? "", "base64").toString()).toBe("new limits");

    // Start after a plain stop boots a new process on the same private IP.
    await ec2.send(new StartInstancesCommand({ InstanceIds: [id] }));
    await eventually(async () => (await stateOf(ec2, id)) === "running", 3000, "running after stop");
    expect((await describeOne(ec2, id)).PrivateIpAddress).toBe(ip);
    expect(await waitHealthy(upstream, { totalMs: 15_000 })).toBe(true);
    const second = emu.control.instance(id);
    expect(second?.processStarts).toBe(2);
    expect(second?.pid).not.toBe(pid);

    const term = await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    expect(term.TerminatingInstances?.[0]?.CurrentState?.Name).toBe("shutting-down");
    await eventually(async () => (await stateOf(ec2, id)) === "terminated", 3000, "terminated");
    expect(processAlive(second?.pid ?? 0)).toBe(false);
    expect((await describeOne(ec2, id)).PrivateIpAddress).toBeUndefined();
    // Terminating again is fine, as on AWS.
    const again = await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    expect(again.TerminatingInstances?.[0]?.CurrentState?.Name).toBe("terminated");
  });

  it("an instance with the noProcess fault runs but never answers health checks", async () => {
    emu.control.setInstanceFaults("next", { noProcess: true });
    const run = await ec2.send(new RunInstancesCommand(x86Launch({ HibernationOptions: undefined })));
    const id = run.Instances?.[0]?.InstanceId ?? "";
    await eventually(async () => (await stateOf(ec2, id)) === "running", 3000, "running");
    const ip = (await describeOne(ec2, id)).PrivateIpAddress;
    expect(emu.control.instance(id)).toMatchObject({ process: "none", pid: null });
    expect(await waitHealthy(`${ip}:${emu.satellitePort}`, { totalMs: 800 })).toBe(false);
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
  });
});

describe("EC2 rules", () => {
  let emu: Emulator;
  let ec2: EC2Client;

  beforeAll(async () => {
    emu = await startEmulator({ satellitePort: await freePort(), throttle: false, command: [...SLEEP_COMMAND] });
    ec2 = ec2Client(emu.endpoint, { maxAttempts: 1 });
  });
  afterAll(async () => {
    ec2?.destroy();
    await emu?.close();
  });

  const launch = async (over: Partial<RunInstancesCommandInput> = {}) => {
    const run = await ec2.send(new RunInstancesCommand(x86Launch(over)));
    return run.Instances?.[0]?.InstanceId ?? "";
  };

  it("IncorrectInstanceState: stop while pending or stopping, start while stopping, modify user data unless stopped", async () => {
    // Long enough that the next call surely lands inside the transition.
    emu.control.setTimings({ pendingMs: 800, stoppingMs: 800 });
    const id = await launch();
    expect(await ec2Error(ec2.send(new StopInstancesCommand({ InstanceIds: [id] })))).toMatchObject({ name: "IncorrectInstanceState", status: 400 });
    await eventually(async () => (await stateOf(ec2, id)) === "running", 3000, "running");
    expect(await ec2Error(ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: id, UserData: { Value: new Uint8Array([1]) } })))).toMatchObject({
      name: "IncorrectInstanceState",
      message: `The instance '${id}' is not in the 'stopped' state.`,
    });
    // Start on a running instance is success, with nothing changed.
    const started = await ec2.send(new StartInstancesCommand({ InstanceIds: [id] }));
    expect(started.StartingInstances?.[0]).toMatchObject({ CurrentState: { Name: "running" }, PreviousState: { Name: "running" } });

    await ec2.send(new StopInstancesCommand({ InstanceIds: [id] }));
    expect(await ec2Error(ec2.send(new StopInstancesCommand({ InstanceIds: [id] })))).toMatchObject({ name: "IncorrectInstanceState" });
    expect(await ec2Error(ec2.send(new StartInstancesCommand({ InstanceIds: [id] })))).toMatchObject({ name: "IncorrectInstanceState" });
    await eventually(async () => (await stateOf(ec2, id)) === "stopped", 3000, "stopped");
    // Stop on a stopped instance is success.
    const stopped = await ec2.send(new StopInstancesCommand({ InstanceIds: [id] }));
    expect(stopped.StoppingInstances?.[0]).toMatchObject({ CurrentState: { Name: "stopped" }, PreviousState: { Name: "stopped" } });
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    expect(await ec2Error(ec2.send(new StartInstancesCommand({ InstanceIds: [id] })))).toMatchObject({ name: "IncorrectInstanceState" });
    emu.control.setTimings({ pendingMs: 300, stoppingMs: 200 });
  });

  it("ModifyInstanceAttribute InstanceType: only when stopped, not when hibernated, and only within the AMI's architecture", async () => {
    const id = await launch();
    await eventually(async () => (await stateOf(ec2, id)) === "running", 3000, "running");
    const retype = (type: string) => ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: id, InstanceType: { Value: type } }));
    expect(await ec2Error(retype("t3.medium"))).toMatchObject({ name: "IncorrectInstanceState", message: `The instance '${id}' is not in the 'stopped' state.` });

    await ec2.send(new StopInstancesCommand({ InstanceIds: [id], Hibernate: true }));
    await eventually(async () => (await stateOf(ec2, id)) === "stopped", 3000, "hibernated");
    expect(await ec2Error(retype("t3.medium"))).toMatchObject({ name: "UnsupportedOperation", status: 400 });
    await ec2.send(new StartInstancesCommand({ InstanceIds: [id] }));
    await eventually(async () => (await stateOf(ec2, id)) === "running", 3000, "resumed");
    await ec2.send(new StopInstancesCommand({ InstanceIds: [id] }));
    await eventually(async () => (await stateOf(ec2, id)) === "stopped", 3000, "stopped");

    expect(await ec2Error(retype("t4g.medium"))).toMatchObject({
      name: "InvalidInstanceAttributeValue",
      status: 400,
      message: `'t4g.medium' is not a valid instance type for instance '${id}' of architecture 'x86_64'.`,
    });
    expect((await ec2Error(retype("t9.huge"))).name).toBe("InvalidInstanceAttributeValue");
    expect((await describeOne(ec2, id)).InstanceType).toBe("t3.small");

    await retype("t3.xlarge");
    expect((await describeOne(ec2, id)).InstanceType).toBe("t3.xlarge");
    const attr = await ec2.send(new DescribeInstanceAttributeCommand({ InstanceId: id, Attribute: "instanceType" }));
    expect(attr.InstanceType?.Value).toBe("t3.xlarge");
    expect(emu.control.instance(id)).toMatchObject({ instanceType: "t3.xlarge", state: "stopped" });
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
  });

  it("refuses hibernation on arm64, unencrypted or too small root volumes, and hibernating an instance launched without it", async () => {
    const refused = [
      x86Launch({ ImageId: EMULATOR_AMIS.arm64, InstanceType: "t4g.small" }),
      x86Launch({ BlockDeviceMappings: [{ DeviceName: "/dev/xvda", Ebs: { VolumeSize: 20, Encrypted: false } }] }),
      x86Launch({ BlockDeviceMappings: [] }),
      x86Launch({ InstanceType: "t3.2xlarge", BlockDeviceMappings: [{ DeviceName: "/dev/xvda", Ebs: { VolumeSize: 16, Encrypted: true } }] }),
    ];
    const before = emu.control.instances().length;
    for (const input of refused) {
      expect(await ec2Error(ec2.send(new RunInstancesCommand(input)))).toMatchObject({ name: "UnsupportedHibernationConfiguration", status: 400 });
    }
    expect(emu.control.instances()).toHaveLength(before);

    const arm = await launch({ ImageId: EMULATOR_AMIS.arm64, InstanceType: "t4g.small", HibernationOptions: undefined });
    await eventually(async () => (await stateOf(ec2, arm)) === "running", 3000, "arm running");
    expect((await describeOne(ec2, arm)).Architecture).toBe("arm64");
    expect(await ec2Error(ec2.send(new StopInstancesCommand({ InstanceIds: [arm], Hibernate: true })))).toMatchObject({
      name: "UnsupportedHibernationConfiguration",
    });
    expect(await stateOf(ec2, arm)).toBe("running");
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [arm] }));
  });

  it("validates images, types, ids and idempotency tokens like EC2", async () => {
    const cases: [Partial<RunInstancesCommandInput>, string][] = [
      [{ ImageId: "ami-0123456789abcdef0" }, "InvalidAMIID.NotFound"],
      [{ ImageId: "not-an-ami" }, "InvalidAMIID.Malformed"],
      [{ InstanceType: "t9.huge" as "t3.small" }, "InvalidParameterValue"],
      [{ InstanceType: "t4g.small", HibernationOptions: undefined }, "InvalidParameterValue"], // x86 AMI, arm type
      [{ MaxCount: 2 }, "InvalidParameterValue"],
      [{ UserData: "not base64!" }, "InvalidParameterValue"],
      [{ UserData: Buffer.alloc(16 * 1024 + 1).toString("base64") }, "InvalidParameterValue"],
      [{ TagSpecifications: [{ ResourceType: "instance", Tags: [{ Key: "aws:reserved", Value: "x" }] }] }, "InvalidParameterValue"],
    ];
    for (const [over, code] of cases) expect((await ec2Error(ec2.send(new RunInstancesCommand(x86Launch(over))))).name, JSON.stringify(over).slice(0, 80)).toBe(code);

    expect(await ec2Error(ec2.send(new StopInstancesCommand({ InstanceIds: ["i-0123456789abcdef0"] })))).toMatchObject({
      name: "InvalidInstanceID.NotFound",
      message: "The instance ID 'i-0123456789abcdef0' does not exist",
    });
    expect((await ec2Error(ec2.send(new DescribeInstancesCommand({ InstanceIds: ["bogus"] })))).name).toBe("InvalidInstanceID.Malformed");

    const a = await launch({ ClientToken: "token-1" });
    expect(await launch({ ClientToken: "token-1" })).toBe(a);
    expect((await ec2Error(ec2.send(new RunInstancesCommand(x86Launch({ ClientToken: "token-1", InstanceType: "t3.medium" }))))).name).toBe(
      "IdempotentParameterMismatch",
    );
    expect(emu.control.instances().filter((i) => i.instanceId === a)).toHaveLength(1);
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [a] }));
  });

  it("filters by tag and state", async () => {
    const tagged = await launch({
      HibernationOptions: undefined,
      TagSpecifications: [{ ResourceType: "instance", Tags: [{ Key: "satellites:id", Value: "filter-me" }] }],
    });
    const other = await launch({ HibernationOptions: undefined });
    const byTag = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: "tag:satellites:id", Values: ["filter-*"] }] }));
    expect(byTag.Reservations?.flatMap((r) => r.Instances ?? []).map((i) => i.InstanceId)).toEqual([tagged]);
    await eventually(async () => (await stateOf(ec2, other)) === "running", 3000, "running");
    await ec2.send(new StopInstancesCommand({ InstanceIds: [other] }));
    const stopping = await ec2.send(
      new DescribeInstancesCommand({ Filters: [{ Name: "instance-state-name", Values: ["stopping", "stopped"] }, { Name: "instance-id", Values: [tagged, other] }] }),
    );
    expect(stopping.Reservations?.flatMap((r) => r.Instances ?? []).map((i) => i.InstanceId)).toEqual([other]);
    const none = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: "tag:satellites:id", Values: ["nobody"] }] }));
    expect(none.Reservations).toEqual([]);
    expect((await ec2Error(ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: "bogus-filter", Values: ["x"] }] })))).name).toBe("InvalidParameterValue");
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [tagged, other] }));
  });

  it("injects InsufficientInstanceCapacity (HTTP 500, retried by the SDK) and slow starts", async () => {
    emu.control.insufficientCapacity(1);
    expect(await ec2Error(ec2.send(new RunInstancesCommand(x86Launch())))).toMatchObject({ name: "InsufficientInstanceCapacity", status: 500, attempts: 1 });

    // The SDK's default retries ride over a single capacity error.
    const retrying = ec2Client(emu.endpoint, { maxAttempts: 3 });
    emu.control.reset();
    emu.control.insufficientCapacity(1);
    const ok = await retrying.send(new RunInstancesCommand(x86Launch({ HibernationOptions: undefined })));
    expect(emu.control.stats().requests.RunInstances).toBe(2);
    retrying.destroy();
    const id = ok.Instances?.[0]?.InstanceId ?? "";

    emu.control.setInstanceFaults(id, { extraStartDelayMs: 1000 });
    await eventually(async () => (await stateOf(ec2, id)) === "running", 3000, "running");
    await ec2.send(new StopInstancesCommand({ InstanceIds: [id] }));
    await eventually(async () => (await stateOf(ec2, id)) === "stopped", 3000, "stopped");
    await ec2.send(new StartInstancesCommand({ InstanceIds: [id] }));
    await new Promise((r) => setTimeout(r, 500));
    expect(await stateOf(ec2, id)).toBe("pending");
    await eventually(async () => (await stateOf(ec2, id)) === "running", 3000, "running after slow start");
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
  });

  it("a fault aimed at an instance trips only calls that name it, not a filtered listing", async () => {
    const out = await ec2.send(new RunInstancesCommand(x86Launch({ HibernationOptions: undefined })));
    const id = out.Instances?.[0]?.InstanceId ?? "";
    emu.control.failNext({ code: "UnauthorizedOperation", actions: ["DescribeInstances"], instanceIds: [id], count: 1 });
    // Another caller lists by filter (as the reconciler does) and another instance is named: both pass.
    await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: "tag-key", Values: ["satellites:id"] }] }));
    await ec2.send(new DescribeInstancesCommand({ InstanceIds: ["i-0123456789abcdef0"] })).catch(() => {});
    expect(await ec2Error(describeOne(ec2, id))).toMatchObject({ name: "UnauthorizedOperation", status: 400 });
    expect(await stateOf(ec2, id)).toMatch(/pending|running/);
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
  });

  it("answers unknown actions and malformed requests with EC2's error envelope", async () => {
    const res = await fetch(emu.endpoint, { method: "POST", body: "Action=CreateVpc&Version=2016-11-15", headers: { "content-type": "application/x-www-form-urlencoded" } });
    expect(res.status).toBe(400);
    const body = await res.text();
    expect(body).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>\n<Response><Errors><Error><Code>InvalidAction<\/Code><Message>The action CreateVpc is not valid for this web service.<\/Message><\/Error><\/Errors><RequestID>[0-9a-f-]{36}<\/RequestID><\/Response>$/);
    const missing = await fetch(emu.endpoint, { method: "POST", body: "Action=StartInstances&Version=2016-11-15" });
    expect(await missing.text()).toContain("<Code>MissingParameter</Code>");
  });
});

describe("throttling", () => {
  it("answers RequestLimitExceeded (HTTP 503) once a class's bucket is empty, and refills at its rate", async () => {
    const emu = await startEmulator({ satellitePort: await freePort(), command: [...SLEEP_COMMAND], throttle: { RunInstances: { burst: 2, perSecond: 4 } } });
    const ec2 = ec2Client(emu.endpoint, { maxAttempts: 1 });
    try {
      await ec2.send(new RunInstancesCommand(x86Launch({ HibernationOptions: undefined })));
      await ec2.send(new RunInstancesCommand(x86Launch({ HibernationOptions: undefined })));
      expect(await ec2Error(ec2.send(new RunInstancesCommand(x86Launch())))).toMatchObject({ name: "RequestLimitExceeded", status: 503 });
      // Other classes have their own buckets.
      await ec2.send(new DescribeInstancesCommand({}));
      await new Promise((r) => setTimeout(r, 300));
      await ec2.send(new RunInstancesCommand(x86Launch({ HibernationOptions: undefined })));
      expect(emu.control.stats().throttled).toEqual({ RunInstances: 1 });

      // A burst of 100 (AWS's for describe) then nothing: exactly the excess is refused.
      emu.control.setThrottle("describe", { burst: 100, perSecond: 0.001 });
      const results = await Promise.allSettled(Array.from({ length: 105 }, () => ec2.send(new DescribeInstancesCommand({}))));
      expect(results.filter((r) => r.status === "rejected")).toHaveLength(5);

      emu.control.drainBucket("mutating");
      const first = emu.control.instances()[0]?.instanceId ?? "";
      expect((await ec2Error(ec2.send(new TerminateInstancesCommand({ InstanceIds: [first] })))).name).toBe("RequestLimitExceeded");
      // Get* calls are non-mutating for AWS, as Describe* are: reading a console takes no mutating token.
      emu.control.setThrottle("describe", null);
      await ec2.send(new GetConsoleOutputCommand({ InstanceId: first, Latest: true }));
    } finally {
      ec2.destroy();
      await emu.close();
    }
  });
});

it("close() kills every instance process, frozen ones included", async () => {
  const emu = await startEmulator({ satellitePort: await freePort(), throttle: false, command: [...SLEEP_COMMAND] });
  const ec2 = ec2Client(emu.endpoint);
  const a = (await ec2.send(new RunInstancesCommand(x86Launch()))).Instances?.[0]?.InstanceId ?? "";
  const b = (await ec2.send(new RunInstancesCommand(x86Launch({ HibernationOptions: undefined })))).Instances?.[0]?.InstanceId ?? "";
  await eventually(() => emu.control.instances().every((i) => i.process === "running"), 3000, "processes");
  await ec2.send(new StopInstancesCommand({ InstanceIds: [a], Hibernate: true }));
  await eventually(() => emu.control.instance(a)?.process === "frozen", 3000, "frozen");
  const pids = [emu.control.instance(a)?.pid ?? 0, emu.control.instance(b)?.pid ?? 0];
  expect(pids.every(processAlive)).toBe(true);
  ec2.destroy();
  await emu.close();
  expect(pids.some(processAlive)).toBe(false);
});
