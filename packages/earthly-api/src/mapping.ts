// Earthly's words ↔ ours: SatelliteStatus for our states, `linux/amd64` for amd64, Earthly's
// sizes for ours (the ones we do not offer are a clear INVALID_ARGUMENT).
import { PLATFORMS, SIZES, type PlatformName, type SizeName } from "@satellites/catalog";
import type { SatelliteState } from "@satellites/db";
import { invalid } from "./errors.ts";

/** api.public.compute.SatelliteStatus */
export const SatelliteStatus = {
  UNKNOWN: 0,
  CREATING: 1,
  OPERATIONAL: 2,
  OFFLINE: 3,
  DESTROYING: 4,
  FAILED: 5,
  SLEEP: 6,
  STARTING: 7,
  STOPPING: 8,
  UPDATING: 9,
} as const;
export type SatelliteStatusValue = (typeof SatelliteStatus)[keyof typeof SatelliteStatus];

const STATUS_OF: Record<SatelliteState, SatelliteStatusValue> = {
  creating: SatelliteStatus.CREATING,
  awake: SatelliteStatus.OPERATIONAL,
  stopping: SatelliteStatus.STOPPING,
  asleep: SatelliteStatus.SLEEP,
  starting: SatelliteStatus.STARTING,
  updating: SatelliteStatus.UPDATING,
  deleting: SatelliteStatus.DESTROYING,
  deleted: SatelliteStatus.DESTROYING,
  failed: SatelliteStatus.FAILED,
};

export function statusOf(state: SatelliteState): SatelliteStatusValue {
  return STATUS_OF[state];
}

/** Sizes Earthly had that we do not offer. */
const EARTHLY_ONLY_SIZES = ["2xlarge", "3xlarge", "4xlarge"];

/** Earthly's size (empty: Earthly's default, medium) as ours, or INVALID_ARGUMENT. */
export function sizeFromEarthly(size: string, fallback: SizeName = "medium"): SizeName {
  if (size === "") return fallback;
  if ((SIZES as readonly string[]).includes(size)) return size as SizeName;
  if (EARTHLY_ONLY_SIZES.includes(size)) throw invalid(`size ${size} is not offered here; choose one of ${SIZES.join(", ")}`);
  throw invalid(`unknown size "${size.slice(0, 80)}"; choose one of ${SIZES.join(", ")}`);
}

/** `linux/amd64` / `linux/arm64` (empty: fallback) as ours, or INVALID_ARGUMENT. */
export function platformFromEarthly(platform: string, fallback: PlatformName = "amd64"): PlatformName {
  if (platform === "") return fallback;
  const arch = platform.startsWith("linux/") ? platform.slice("linux/".length) : "";
  if ((PLATFORMS as readonly string[]).includes(arch)) return arch as PlatformName;
  throw invalid(`unknown platform "${platform.slice(0, 80)}"; choose one of ${PLATFORMS.map((p) => `linux/${p}`).join(", ")}`);
}

export function platformToEarthly(platform: PlatformName): string {
  return `linux/${platform}`;
}

const NAME_RE = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

/** The same rule as the dashboard's: lowercase letters, digits and dashes, 1–63 characters. */
export function satelliteNameFromEarthly(name: string): string {
  if (name.length === 0) throw invalid("satellite name is required");
  if (name.length > 63 || !NAME_RE.test(name)) {
    throw invalid(`satellite name "${name.slice(0, 80)}" is not valid: use 1-63 lowercase letters, digits and dashes, starting and ending with a letter or digit`);
  }
  return name;
}

/** google.protobuf.Timestamp as proto-loader takes it. */
export function timestamp(d: Date | null | undefined): { seconds: string; nanos: number } | null {
  if (!d) return null;
  const ms = d.getTime();
  return { seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 };
}
