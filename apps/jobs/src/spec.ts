import { limitsOf, type PlatformName, type SizeName } from "@satellites/catalog";
import type { Satellite } from "@satellites/db";
import type { LaunchSpec } from "@satellites/provider";

export function launchSpec(sat: Satellite): LaunchSpec {
  return {
    satelliteId: sat.id,
    orgId: sat.orgId,
    name: sat.name,
    platform: sat.platform as PlatformName,
    size: sat.size as SizeName,
    limits: limitsOf(sat),
    hibernate: sat.hibernate,
  };
}
