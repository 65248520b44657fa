// An instance as DescribeInstances/RunInstances report it (the `RunInstancesItemType` shape).
import { STATE_CODES, type Ec2State, type Instance } from "./instances.ts";
import { VPC_ID } from "./network.ts";
import type { XmlObject } from "./xml.ts";

export const stateXml = (state: Ec2State): XmlObject => ({ code: STATE_CODES[state], name: state });

export function instanceXml(inst: Instance, region: string): XmlObject {
  const gone = inst.state === "terminated";
  return {
    instanceId: inst.instanceId,
    imageId: inst.imageId,
    instanceState: stateXml(inst.state),
    privateDnsName: gone ? "" : `ip-${inst.privateIp.replaceAll(".", "-")}.ec2.internal`,
    dnsName: "",
    reason: inst.stateTransitionReason,
    amiLaunchIndex: 0,
    instanceType: inst.instanceType,
    launchTime: inst.launchTime,
    placement: { availabilityZone: `${region}a`, groupName: "", tenancy: "default" },
    monitoring: { state: "disabled" },
    subnetId: gone ? undefined : inst.subnetId,
    vpcId: gone ? undefined : VPC_ID,
    // AWS releases the private address of a terminated instance.
    privateIpAddress: gone ? undefined : inst.privateIp,
    sourceDestCheck: true,
    groupSet: inst.securityGroupIds.map((groupId) => ({ groupId, groupName: groupId })),
    stateReason: inst.stateReason ? { ...inst.stateReason } : undefined,
    architecture: inst.architecture,
    rootDeviceType: "ebs",
    rootDeviceName: inst.rootDeviceName,
    blockDeviceMapping: gone
      ? []
      : inst.volumes.map((v) => ({
          deviceName: v.deviceName,
          ebs: { volumeId: v.volumeId, status: "attached", attachTime: inst.launchTime, deleteOnTermination: v.deleteOnTermination },
        })),
    virtualizationType: "hvm",
    clientToken: inst.clientToken ?? "",
    tagSet: [...inst.tags].map(([key, value]) => ({ key, value })),
    hypervisor: "xen",
    ebsOptimized: false,
    enaSupport: true,
    cpuOptions: { coreCount: Math.max(1, inst.vcpu / 2), threadsPerCore: inst.vcpu > 1 ? 2 : 1 },
    hibernationOptions: { configured: inst.hibernationConfigured },
    metadataOptions: { state: "applied", ...inst.metadataOptions },
    platformDetails: "Linux/UNIX",
  };
}
