// The EC2 actions the emulator implements, each validating the whole request before changing
// anything (as EC2 does: one bad instance id fails the call for all of them).
import { Ec2Error, incorrectState, invalidValue, missingParameter, notFound } from "./errors.ts";
import type { ImageInfo } from "./images.ts";
import { INSTANCE_TYPES } from "./instance-types.ts";
import { STATE_CODES, hexId, type Ec2State, type Fleet, type Instance } from "./instances.ts";
import type { Params } from "./query.ts";
import { instanceXml, stateXml } from "./render.ts";
import type { EmulatedNetwork } from "./network.ts";
import { checkUserData, parseRunInstances } from "./run-instances.ts";
import type { XmlObject } from "./xml.ts";

export const ACTIONS = [
  "RunInstances",
  "StartInstances",
  "StopInstances",
  "TerminateInstances",
  "DescribeInstances",
  "ModifyInstanceAttribute",
  "DescribeInstanceAttribute",
  "DescribeVpcs",
  "DescribeSubnets",
  "DescribeRouteTables",
  "GetManagedPrefixListEntries",
  "GetConsoleOutput",
] as const;
export type Action = (typeof ACTIONS)[number];

export const isAction = (a: string): a is Action => (ACTIONS as readonly string[]).includes(a);

const OWNER_ID = "123456789012";
const INSTANCE_ID = /^i-[0-9a-f]{8}([0-9a-f]{9})?$/;

interface Launched {
  instanceId: string;
  /** The request's parameters minus the token: a replay must match them exactly. */
  fingerprint: string;
}

export class Ec2Actions {
  private readonly tokens = new Map<string, Launched>();

  constructor(
    private readonly fleet: Fleet,
    private readonly region: string,
    private readonly images: Readonly<Record<string, ImageInfo>>,
    private readonly network: EmulatedNetwork,
  ) {}

  run(action: Action, p: Params, raw: URLSearchParams): Promise<XmlObject> | XmlObject {
    switch (action) {
      case "RunInstances":
        return this.runInstances(p, raw);
      case "StartInstances":
        return this.startInstances(p);
      case "StopInstances":
        return this.stopInstances(p);
      case "TerminateInstances":
        return this.terminateInstances(p);
      case "DescribeInstances":
        return this.describeInstances(p);
      case "ModifyInstanceAttribute":
        return this.modifyInstanceAttribute(p);
      case "DescribeInstanceAttribute":
        return this.describeInstanceAttribute(p);
      case "DescribeVpcs":
        return this.network.describeVpcs(p);
      case "DescribeSubnets":
        return this.network.describeSubnets(p);
      case "DescribeRouteTables":
        return this.network.describeRouteTables(p);
      case "GetManagedPrefixListEntries":
        return this.network.getManagedPrefixListEntries(p);
      case "GetConsoleOutput":
        return this.getConsoleOutput(p);
    }
  }

  private lookup(ids: string[]): Instance[] {
    for (const id of ids) if (!INSTANCE_ID.test(id)) throw new Ec2Error("InvalidInstanceID.Malformed", `Invalid id: "${id}"`);
    const missing = ids.filter((id) => !this.fleet.get(id));
    if (missing.length) throw notFound(missing);
    return ids.map((id) => this.fleet.get(id)).filter((i): i is Instance => i !== undefined);
  }

  private instanceIds(p: Params): Instance[] {
    const ids = p.strings("InstanceId");
    if (!ids.length) throw missingParameter("InstanceId");
    return this.lookup(ids);
  }

  private reservation(instances: Instance[], reservationId: string): XmlObject {
    return {
      reservationId,
      ownerId: OWNER_ID,
      groupSet: [],
      instancesSet: instances.map((i) => instanceXml(i, this.region)),
    };
  }

  private async runInstances(p: Params, raw: URLSearchParams): Promise<XmlObject> {
    const spec = parseRunInstances(p, this.images);
    const fingerprint = [...raw.entries()]
      .filter(([k]) => k !== "ClientToken")
      .map(([k, v]) => `${k}=${v}`)
      .sort()
      .join("&");
    if (spec.clientToken !== null) {
      const earlier = this.tokens.get(spec.clientToken);
      const inst = earlier && this.fleet.get(earlier.instanceId);
      if (earlier && inst) {
        if (earlier.fingerprint !== fingerprint) {
          throw new Ec2Error("IdempotentParameterMismatch", "Arguments on this idempotent request are inconsistent with arguments used in previous request(s).");
        }
        return this.reservation([inst], inst.reservationId);
      }
    }
    const reservationId = hexId("r");
    const inst = await this.fleet.launch(spec, reservationId);
    if (spec.clientToken !== null) this.tokens.set(spec.clientToken, { instanceId: inst.instanceId, fingerprint });
    return this.reservation([inst], reservationId);
  }

  private changes(instances: Instance[], previous: Ec2State[]): XmlObject {
    return {
      instancesSet: instances.map((inst, n) => ({
        instanceId: inst.instanceId,
        currentState: stateXml(inst.state),
        previousState: stateXml(previous[n] ?? inst.state),
      })),
    };
  }

  private startInstances(p: Params): XmlObject {
    const instances = this.instanceIds(p);
    for (const inst of instances) {
      if (inst.state === "stopping" || inst.state === "shutting-down" || inst.state === "terminated") {
        throw incorrectState(inst.instanceId, "The instance '{id}' is not in a state from which it can be started.");
      }
    }
    const previous = instances.map((i) => i.state);
    for (const inst of instances) this.fleet.start(inst);
    return this.changes(instances, previous);
  }

  private stopInstances(p: Params): XmlObject {
    const instances = this.instanceIds(p);
    const hibernate = p.bool("Hibernate") ?? false;
    for (const inst of instances) {
      if (inst.state === "stopped") continue;
      if (inst.state !== "running") {
        throw incorrectState(inst.instanceId, "This instance '{id}' is not in a state from which it can be stopped.");
      }
      if (hibernate && !inst.hibernationConfigured) {
        throw new Ec2Error("UnsupportedHibernationConfiguration", `The instance is not enabled for hibernation: ${inst.instanceId}`);
      }
    }
    const previous = instances.map((i) => i.state);
    for (const inst of instances) this.fleet.stop(inst, hibernate);
    return this.changes(instances, previous);
  }

  private terminateInstances(p: Params): XmlObject {
    const instances = this.instanceIds(p);
    const previous = instances.map((i) => i.state);
    for (const inst of instances) this.fleet.terminate(inst);
    return this.changes(instances, previous);
  }

  private describeInstances(p: Params): XmlObject {
    const ids = p.strings("InstanceId");
    let instances = (ids.length ? this.lookup(ids) : this.fleet.all()).map((i) => this.fleet.reported(i));
    for (const filter of p.list("Filter")) {
      const name = filter.required("Name");
      const patterns = filter.strings("Value").map(glob);
      const values = filterValues(name);
      instances = instances.filter((inst) => values(inst).some((v) => patterns.some((re) => re.test(v))));
    }
    const byReservation = new Map<string, Instance[]>();
    for (const inst of instances) byReservation.set(inst.reservationId, [...(byReservation.get(inst.reservationId) ?? []), inst]);
    return { reservationSet: [...byReservation].map(([id, list]) => this.reservation(list, id)) };
  }

  private modifyInstanceAttribute(p: Params): XmlObject {
    const [inst] = this.lookup([p.required("InstanceId")]);
    if (!inst) throw missingParameter("InstanceId");
    const attribute = p.str("Attribute");
    const userData = p.str("UserData.Value") ?? (attribute === "userData" ? p.str("Value") : undefined);
    const instanceType = p.str("InstanceType.Value") ?? (attribute === "instanceType" ? p.str("Value") : undefined);
    if (userData === undefined && instanceType === undefined) {
      if (attribute !== undefined) throw invalidValue("Attribute", attribute, "The emulator modifies userData and instanceType only.");
      throw new Ec2Error("InvalidParameterCombination", "No attributes specified.");
    }
    if (inst.state !== "stopped") throw incorrectState(inst.instanceId, "The instance '{id}' is not in the 'stopped' state.");
    if (instanceType !== undefined) {
      const type = INSTANCE_TYPES[instanceType];
      // EC2's code for a type the instance cannot take; the architecture is the AMI's.
      if (!type) throw new Ec2Error("InvalidInstanceAttributeValue", `The instance type '${instanceType}' is not valid.`);
      const architecture = this.images[inst.imageId]?.architecture ?? inst.architecture;
      if (type.architecture !== architecture) {
        throw new Ec2Error("InvalidInstanceAttributeValue", `'${instanceType}' is not a valid instance type for instance '${inst.instanceId}' of architecture '${architecture}'.`);
      }
      if (inst.hibernated) throw new Ec2Error("UnsupportedOperation", "You can't change the instance type of a hibernated instance.");
      inst.instanceType = instanceType;
      inst.vcpu = type.vcpu;
    }
    if (userData !== undefined) inst.userData = userData === "" ? null : checkUserData(userData);
    return { return: true };
  }

  /** The machine's output stands in for its serial console: the running one's, else the last one's. */
  private getConsoleOutput(p: Params): XmlObject {
    const [inst] = this.lookup([p.required("InstanceId")]);
    if (!inst) throw missingParameter("InstanceId");
    const text = inst.process?.log ?? inst.lastConsole;
    return { instanceId: inst.instanceId, timestamp: new Date().toISOString(), ...(text ? { output: Buffer.from(text).toString("base64") } : {}) };
  }

  private describeInstanceAttribute(p: Params): XmlObject {
    const [inst] = this.lookup([p.required("InstanceId")]);
    if (!inst) throw missingParameter("InstanceId");
    const attribute = p.required("Attribute");
    switch (attribute) {
      case "userData":
        return { instanceId: inst.instanceId, userData: inst.userData === null ? {} : { value: inst.userData } };
      case "instanceType":
        return { instanceId: inst.instanceId, instanceType: { value: inst.instanceType } };
      default:
        throw invalidValue("Attribute", attribute, "The emulator describes userData and instanceType only.");
    }
  }
}

/** EC2 filter values allow `*` and `?` wildcards. */
function glob(pattern: string): RegExp {
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replaceAll("*", ".*").replaceAll("?", ".");
  return new RegExp(`^${body}$`);
}

function filterValues(name: string): (inst: Instance) => string[] {
  if (name.startsWith("tag:")) {
    const key = name.slice(4);
    return (inst) => {
      const v = inst.tags.get(key);
      return v === undefined ? [] : [v];
    };
  }
  switch (name) {
    case "instance-id":
      return (i) => [i.instanceId];
    case "instance-state-name":
      return (i) => [i.state];
    case "instance-state-code":
      return (i) => [String(STATE_CODES[i.state])];
    case "instance-type":
      return (i) => [i.instanceType];
    case "image-id":
      return (i) => [i.imageId];
    case "architecture":
      return (i) => [i.architecture];
    case "private-ip-address":
      return (i) => (i.state === "terminated" ? [] : [i.privateIp]);
    case "client-token":
      return (i) => (i.clientToken ? [i.clientToken] : []);
    case "tag-key":
      return (i) => [...i.tags.keys()];
    case "tag-value":
      return (i) => [...i.tags.values()];
    case "hibernation-options.configured":
      return (i) => [String(i.hibernationConfigured)];
    default:
      throw new Ec2Error("InvalidParameterValue", `The filter '${name}' is invalid`);
  }
}
