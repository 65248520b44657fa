// Satellite sizes, from Earthly's public pricing. Instance types are t3.* on amd64 and the
// matching Graviton t4g.* on arm64; prices are on-demand us-east-1 list prices (USD/hour),
// used only to estimate the cost a sleeping satellite avoided.
export const SIZES = ["xsmall", "small", "medium", "large", "xlarge"] as const;
export const PLATFORMS = ["amd64", "arm64"] as const;
export type SizeName = (typeof SIZES)[number];
export type PlatformName = (typeof PLATFORMS)[number];

export interface SizeSpec {
  vcpu: number;
  memoryMiB: number;
  instanceType: Record<PlatformName, string>;
  hourlyUsd: Record<PlatformName, number>;
}

export const SIZE_SPECS: Readonly<Record<SizeName, SizeSpec>> = {
  xsmall: { vcpu: 2, memoryMiB: 2048, instanceType: { amd64: "t3.small", arm64: "t4g.small" }, hourlyUsd: { amd64: 0.0208, arm64: 0.0168 } },
  small: { vcpu: 2, memoryMiB: 4096, instanceType: { amd64: "t3.medium", arm64: "t4g.medium" }, hourlyUsd: { amd64: 0.0416, arm64: 0.0336 } },
  medium: { vcpu: 2, memoryMiB: 8192, instanceType: { amd64: "t3.large", arm64: "t4g.large" }, hourlyUsd: { amd64: 0.0832, arm64: 0.0672 } },
  large: { vcpu: 4, memoryMiB: 16384, instanceType: { amd64: "t3.xlarge", arm64: "t4g.xlarge" }, hourlyUsd: { amd64: 0.1664, arm64: 0.1344 } },
  xlarge: { vcpu: 8, memoryMiB: 32768, instanceType: { amd64: "t3.2xlarge", arm64: "t4g.2xlarge" }, hourlyUsd: { amd64: 0.3328, arm64: 0.2688 } },
};

/** Hibernation is configured on x86 only: Graviton needs recent AMIs, so arm64 is stop-only. */
export function hibernatable(platform: PlatformName): boolean {
  return platform === "amd64";
}
