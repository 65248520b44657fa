// AMIs the emulator "has". Any other well-formed id is InvalidAMIID.NotFound, so a wrong
// image configuration fails the way it does on AWS.
import type { Architecture } from "./instance-types.ts";

export interface ImageInfo {
  architecture: Architecture;
  rootDeviceName: string;
  /** Size of the root snapshot: the default root volume when no mapping overrides it. */
  rootSnapshotGiB: number;
}

export const EMULATOR_AMIS = {
  amd64: "ami-0e1a2b3c4d5e6f701",
  arm64: "ami-0e1a2b3c4d5e6f702",
} as const;

export const DEFAULT_IMAGES: Readonly<Record<string, ImageInfo>> = {
  [EMULATOR_AMIS.amd64]: { architecture: "x86_64", rootDeviceName: "/dev/xvda", rootSnapshotGiB: 8 },
  [EMULATOR_AMIS.arm64]: { architecture: "arm64", rootDeviceName: "/dev/xvda", rootSnapshotGiB: 8 },
};

export const AMI_ID = /^ami-[0-9a-f]{8}([0-9a-f]{9})?$/;
