// RunInstances: parse and validate a launch the way EC2 does (image, type, architecture,
// block devices, hibernation prerequisites, tags, idempotency token) before creating anything.
import { Ec2Error, invalidValue } from "./errors.ts";
import { AMI_ID, type ImageInfo } from "./images.ts";
import { INSTANCE_TYPES } from "./instance-types.ts";
import { hexId, type MetadataOptions, type NewInstance, type Volume } from "./instances.ts";
import { SUBNET_ID, SUBNET_ID_SHAPE } from "./network.ts";
import type { Params } from "./query.ts";

/** Raw user data is limited to 16 KB on EC2. */
export const USER_DATA_LIMIT = 16 * 1024;

/** Checks that `value` is base64 for at most 16 KB, the only form EC2 accepts on the wire. */
export function checkUserData(value: string): string {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(value) || value.length % 4 !== 0) {
    throw new Ec2Error("InvalidParameterValue", "Invalid BASE64 encoding of user data.");
  }
  if (Buffer.from(value, "base64").byteLength > USER_DATA_LIMIT) {
    throw new Ec2Error("InvalidParameterValue", `User data is limited to ${USER_DATA_LIMIT} bytes`);
  }
  return value;
}

const RESERVED_TAG = /^aws:/i;

function tagsFor(p: Params, resourceType: string): Map<string, string> {
  const tags = new Map<string, string>();
  for (const spec of p.list("TagSpecification")) {
    const type = spec.required("ResourceType");
    if (!["instance", "volume", "network-interface"].includes(type)) throw invalidValue("TagSpecification.ResourceType", type);
    if (type !== resourceType) continue;
    for (const tag of spec.list("Tag")) {
      const key = tag.required("Key");
      if (RESERVED_TAG.test(key)) throw new Ec2Error("InvalidParameterValue", "Tag keys starting with 'aws:' are reserved for internal use");
      if (key.length > 128) throw invalidValue("Tag.Key", key, "Tag keys are limited to 128 characters.");
      const value = tag.str("Value") ?? "";
      if (value.length > 256) throw invalidValue("Tag.Value", value, "Tag values are limited to 256 characters.");
      tags.set(key, value);
    }
  }
  if (tags.size > 50) throw new Ec2Error("TagLimitExceeded", "The maximum number of tags for a resource is 50");
  return tags;
}

function volumesFor(p: Params, image: ImageInfo): Volume[] {
  const mappings = p.list("BlockDeviceMapping");
  const root = mappings.find((m) => m.str("DeviceName") === image.rootDeviceName);
  const volumes: Volume[] = [];
  const rootSize = root?.int("Ebs.VolumeSize") ?? image.rootSnapshotGiB;
  if (rootSize < image.rootSnapshotGiB) {
    throw new Ec2Error(
      "InvalidBlockDeviceMapping",
      `Volume of size ${rootSize}GB is smaller than snapshot 'snap-0e1a2b3c4d5e6f700', expect size >= ${image.rootSnapshotGiB}GB`,
    );
  }
  volumes.push({
    deviceName: image.rootDeviceName,
    volumeId: hexId("vol"),
    sizeGiB: rootSize,
    encrypted: root?.bool("Ebs.Encrypted") ?? false,
    volumeType: root?.str("Ebs.VolumeType") ?? "gp2",
    deleteOnTermination: root?.bool("Ebs.DeleteOnTermination") ?? true,
  });
  for (const m of mappings) {
    const deviceName = m.required("DeviceName");
    if (deviceName === image.rootDeviceName || m.has("NoDevice") || !m.has("Ebs")) continue;
    const size = m.int("Ebs.VolumeSize");
    if (size === undefined) throw new Ec2Error("InvalidBlockDeviceMapping", `Volume size must be specified for ${deviceName}`);
    volumes.push({
      deviceName,
      volumeId: hexId("vol"),
      sizeGiB: size,
      encrypted: m.bool("Ebs.Encrypted") ?? false,
      volumeType: m.str("Ebs.VolumeType") ?? "gp2",
      deleteOnTermination: m.bool("Ebs.DeleteOnTermination") ?? true,
    });
  }
  for (const v of volumes) {
    if (!["gp2", "gp3", "io1", "io2", "st1", "sc1", "standard"].includes(v.volumeType)) throw invalidValue("VolumeType", v.volumeType);
    if (v.sizeGiB < 1 || v.sizeGiB > 16384) throw invalidValue("VolumeSize", String(v.sizeGiB));
  }
  return volumes;
}

/** Validates a RunInstances request; throws the Ec2Error AWS would answer with. */
export function parseRunInstances(p: Params, images: Readonly<Record<string, ImageInfo>>): NewInstance {
  const imageId = p.required("ImageId");
  if (!AMI_ID.test(imageId)) throw new Ec2Error("InvalidAMIID.Malformed", `Invalid id: "${imageId}" (expecting "ami-...")`);
  const image = images[imageId];
  if (!image) throw new Ec2Error("InvalidAMIID.NotFound", `The image id '[${imageId}]' does not exist`);

  const instanceType = p.required("InstanceType");
  const type = INSTANCE_TYPES[instanceType];
  if (!type) throw invalidValue("InstanceType", instanceType);
  if (type.architecture !== image.architecture) {
    throw new Ec2Error(
      "InvalidParameterValue",
      `The architecture '${type.architecture}' of the specified instance type does not match the architecture '${image.architecture}' of the specified AMI. Specify an instance type and an AMI that have matching architectures, and try again.`,
    );
  }

  const min = p.int("MinCount");
  const max = p.int("MaxCount");
  if (min === undefined) throw new Ec2Error("MissingParameter", "The request must contain the parameter MinCount");
  if (max === undefined) throw new Ec2Error("MissingParameter", "The request must contain the parameter MaxCount");
  if (min !== 1 || max !== 1) throw new Ec2Error("InvalidParameterValue", "This emulator launches exactly one instance per call (MinCount=MaxCount=1)");

  const userData = p.str("UserData");
  const volumes = volumesFor(p, image);
  const root = volumes[0];
  const hibernationConfigured = p.bool("HibernationOptions.Configured") ?? false;
  if (hibernationConfigured && root) {
    if (!type.hibernation) {
      throw new Ec2Error("UnsupportedHibernationConfiguration", `Hibernation is not supported for the ${instanceType} instance type.`);
    }
    if (type.memoryMiB > 150 * 1024) {
      throw new Ec2Error("UnsupportedHibernationConfiguration", "Hibernation is not supported for instances with more than 150 GiB of memory.");
    }
    if (!root.encrypted) {
      throw new Ec2Error("UnsupportedHibernationConfiguration", "For hibernation, the root volume must be an encrypted EBS volume.");
    }
    if (root.sizeGiB * 1024 < type.memoryMiB) {
      throw new Ec2Error(
        "UnsupportedHibernationConfiguration",
        `For hibernation, the root volume (${root.sizeGiB} GiB) must be large enough to hold the instance memory (${type.memoryMiB / 1024} GiB).`,
      );
    }
  }

  const subnetId = p.str("SubnetId") ?? SUBNET_ID;
  if (!SUBNET_ID_SHAPE.test(subnetId)) throw new Ec2Error("InvalidSubnetID.Malformed", `Invalid id: "${subnetId}"`);
  const securityGroupIds = p.strings("SecurityGroupId");
  for (const g of securityGroupIds) {
    if (!/^sg-[0-9a-f]{8,17}$/.test(g)) throw new Ec2Error("InvalidGroupId.Malformed", `Invalid id: "${g}" (expecting "sg-...")`);
  }

  const metadataOptions = metadataOptionsOf(p);

  const clientToken = p.str("ClientToken") ?? null;
  if (clientToken !== null && (clientToken.length > 64 || !/^[\x20-\x7e]+$/.test(clientToken))) {
    throw new Ec2Error("InvalidParameterValue", "Client token must be at most 64 ASCII characters");
  }

  return {
    imageId,
    instanceType,
    architecture: type.architecture,
    vcpu: type.vcpu,
    hibernationConfigured,
    metadataOptions,
    userData: userData === undefined || userData === "" ? null : checkUserData(userData),
    tags: tagsFor(p, "instance"),
    volumes,
    rootDeviceName: image.rootDeviceName,
    subnetId,
    securityGroupIds,
    clientToken,
  };
}

/**
 * MetadataOptions as EC2 takes them (defaults: tokens optional, one hop, endpoint enabled): kept
 * and described, so a test sees what a launch asked of the instance metadata service.
 */
function metadataOptionsOf(p: Params): MetadataOptions {
  const httpTokens = p.str("MetadataOptions.HttpTokens") ?? "optional";
  if (httpTokens !== "optional" && httpTokens !== "required") throw new Ec2Error("InvalidParameterValue", `Value (${httpTokens}) for parameter HttpTokens is invalid.`);
  const httpPutResponseHopLimit = p.int("MetadataOptions.HttpPutResponseHopLimit") ?? 1;
  if (httpPutResponseHopLimit < 1 || httpPutResponseHopLimit > 64) throw new Ec2Error("InvalidParameterValue", "HttpPutResponseHopLimit must be between 1 and 64.");
  const httpEndpoint = p.str("MetadataOptions.HttpEndpoint") ?? "enabled";
  if (httpEndpoint !== "enabled" && httpEndpoint !== "disabled") throw new Ec2Error("InvalidParameterValue", `Value (${httpEndpoint}) for parameter HttpEndpoint is invalid.`);
  return { httpTokens, httpPutResponseHopLimit, httpEndpoint };
}
