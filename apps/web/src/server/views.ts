// What the API returns for a satellite: the row reshaped for people and scripts (limits as
// one object, the size's specs, the address the Earthly CLI should use). Internal columns
// (instance id, raw version counters of jobs) stay out unless a caller needs them.
import { carriesDiskLimit, limitsOf, type PlatformName, SIZE_SPECS, type SizeName } from "@satellites/catalog";
import { config, earthlyApiPublicAddress, proxyPublicAddress } from "@satellites/config";
import type { Satellite } from "@satellites/db";

/** host:port the Earthly CLI connects to (the gRPC proxy), as configured for this install. */
export function proxyAddress(): string {
  return proxyPublicAddress(config());
}

/**
 * What the Earthly CLI needs to reach this install (docs/earthly-cli.md): REST base (the
 * dashboard), the cloud gRPC API, and whether that API and the proxy speak TLS.
 */
export function earthlyConnection() {
  const c = config();
  return {
    serverAddress: (c.PUBLIC_URL ?? `http://localhost:${c.WEB_PORT}`).replace(/\/$/, ""),
    grpcAddress: earthlyApiPublicAddress(c),
    tls: Boolean(c.PROXY_TLS_CERT && c.PROXY_TLS_KEY),
  };
}

export function specsOf(size: SizeName, platform: PlatformName) {
  const s = SIZE_SPECS[size];
  return { vcpu: s.vcpu, memoryMiB: s.memoryMiB, instanceType: s.instanceType[platform], hourlyUsd: s.hourlyUsd[platform] };
}

export function satelliteView(s: Satellite) {
  return {
    id: s.id,
    orgId: s.orgId,
    name: s.name,
    state: s.state,
    version: s.version,
    size: s.size,
    platform: s.platform,
    specs: specsOf(s.size, s.platform),
    provider: s.provider,
    hibernate: s.hibernate,
    limits: limitsOf(s),
    limitsPending: s.limitsPending,
    /** Why the pending limits were refused by the provider (given up), while they are still the pending ones. */
    limitsFailure: s.limitsPending && s.limitsFailedVersion === s.limitsVersion ? s.limitsFailure : null,
    limitsEnforced: s.limitsEnforced,
    /**
     * Whether the disk limit reaches the machine: on EC2 always (the cache GC budget); on the
     * local provider only when the satellite's command line carries it.
     */
    diskLimitEnforced: s.provider !== "local" || Boolean(config().LOCAL_BUILDKITD) || carriesDiskLimit(config().LOCAL_SATELLITE_COMMAND),
    /** Whether the daemon really got its OOM score adjustment (as the jobs process last found). */
    oomScoreEnforced: s.limitsOomScoreEnforced,
    wakeRequested: s.wakeRequested,
    // No satellite address here: it is internal (the proxy's mutual-TLS hop), see satelliteInternals.
    failureReason: s.failureReason,
    lastActivityAt: s.lastActivityAt,
    stateChangedAt: s.stateChangedAt,
    createdAt: s.createdAt,
  };
}

export type SatelliteView = ReturnType<typeof satelliteView>;

/**
 * For an org's admins only: where the proxy reaches the satellite. Internal: nothing outside the
 * control plane can use it (the satellite serves only clients with the control plane's certificate).
 */
export function satelliteInternals(s: Satellite) {
  return { upstream: s.upstream, note: "internal address of the proxy's mutual-TLS hop; not reachable by clients" };
}
