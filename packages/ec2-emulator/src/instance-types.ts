// The instance types the emulator knows: the burstable families Satellites uses plus a few
// common ones. `hibernation` mirrors AWS's HibernationSupported for the type; Graviton is
// treated as stop-only, as AWS does for instances on older AMIs.
export type Architecture = "x86_64" | "arm64";

export interface InstanceTypeInfo {
  vcpu: number;
  memoryMiB: number;
  architecture: Architecture;
  hibernation: boolean;
}

const t = (vcpu: number, memoryMiB: number, architecture: Architecture, hibernation = architecture === "x86_64"): InstanceTypeInfo => ({
  vcpu,
  memoryMiB,
  architecture,
  hibernation,
});

export const INSTANCE_TYPES: Readonly<Record<string, InstanceTypeInfo>> = {
  "t3.nano": t(2, 512, "x86_64"),
  "t3.micro": t(2, 1024, "x86_64"),
  "t3.small": t(2, 2048, "x86_64"),
  "t3.medium": t(2, 4096, "x86_64"),
  "t3.large": t(2, 8192, "x86_64"),
  "t3.xlarge": t(4, 16384, "x86_64"),
  "t3.2xlarge": t(8, 32768, "x86_64"),
  "t4g.nano": t(2, 512, "arm64"),
  "t4g.micro": t(2, 1024, "arm64"),
  "t4g.small": t(2, 2048, "arm64"),
  "t4g.medium": t(2, 4096, "arm64"),
  "t4g.large": t(2, 8192, "arm64"),
  "t4g.xlarge": t(4, 16384, "arm64"),
  "t4g.2xlarge": t(8, 32768, "arm64"),
  "m7i.large": t(2, 8192, "x86_64"),
  "m7g.large": t(2, 8192, "arm64"),
  "c6i.large": t(2, 4096, "x86_64"),
  // Bare metal cannot hibernate on AWS.
  "m5.metal": t(96, 393216, "x86_64", false),
};
