// api.public.compute.Compute, unary calls: list, get, launch, update, delete — through the
// same lifecycle intents and roles as the tRPC API (reads and wake/sleep for members; launch,
// resize and delete for admins and owners).
import { type ServerUnaryCall, status } from "@grpc/grpc-js";
import { type AuditAction, changes, recordAudit } from "@satellites/audit";
import { SIZE_SPECS, type PlatformName, type SizeName } from "@satellites/catalog";
import type { Prisma, Satellite, Tx } from "@satellites/db";
import { requestDelete, requestLaunch, requestResize } from "@satellites/lifecycle";
import type { Caller } from "./caller.ts";
import { type ApiContext, findSatellite, requireOrgId } from "./context.ts";
import { EarthlyApiError, invalid, refused } from "./errors.ts";
import { platformFromEarthly, platformToEarthly, satelliteNameFromEarthly, SatelliteStatus, sizeFromEarthly, statusOf, timestamp } from "./mapping.ts";
import { peerAddress } from "./peer.ts";

type Req<T> = ServerUnaryCall<T, unknown>;

interface OrgRequest {
  org_id: string;
}
interface NamedRequest extends OrgRequest {
  name: string;
}
interface LaunchRequest extends NamedRequest {
  platform: string;
  size: string;
  version: string;
  feature_flags: string[];
  maintenance_weekends_only: boolean;
  cloud_name: string;
}
interface UpdateRequest extends NamedRequest {
  size: string;
  platform: string;
  version: string;
  drop_cache: boolean;
  feature_flags: string[];
  maintenance_window_start: string;
  maintenance_weekends_only: boolean;
}
interface DeleteRequest extends NamedRequest {
  force: boolean;
}

/** The audit record of a change made through this API, written in the change's transaction. */
function audited(call: Req<unknown>, caller: Caller, action: AuditAction, detail: (s: Satellite) => Prisma.InputJsonValue) {
  return (tx: Tx, s: Satellite) => recordAudit(tx, { orgId: s.orgId, actor: caller.actor, action, targetType: "satellite", targetId: s.id, detail: detail(s), ip: peerAddress(call) });
}

function specsOf(s: Satellite) {
  const spec = SIZE_SPECS[s.size as SizeName];
  return { platform: platformToEarthly(s.platform as PlatformName), vcpus: spec.vcpu, memory_gib: spec.memoryMiB / 1024, cache_size_gib: s.limitDiskGiB, size: s.size, max_op_load: 0 };
}

/** What we cannot do, said instead of silently ignored. */
function refuseUnsupported(req: { version: string; feature_flags: string[] }): void {
  if (req.version) throw invalid("pinning a satellite version is not offered here; leave --version unset");
  if (req.feature_flags.length) throw invalid("feature flags are not offered here");
}

/**
 * The platform an update asks for. The CLI sends its default, linux/amd64, whenever --platform is
 * not given, so that value cannot move a satellite off another platform: `sat update --size large`
 * of an arm64 satellite would otherwise rebuild it, cache lost, on the other architecture.
 */
function updatedPlatform(asked: string, current: PlatformName): PlatformName {
  const platform = platformFromEarthly(asked, current);
  return platform === "amd64" ? current : platform;
}

/** How long after a launch the same launch again is taken for the CLI's retry of it. */
const LAUNCH_RETRY_WINDOW_MS = 60_000;

/**
 * Whether this launch is the CLI retrying one that was made (it retries UNAVAILABLE and INTERNAL,
 * up to 10 times, and an answer lost after the commit would otherwise read ALREADY_EXISTS): the
 * satellite is still being created, with these settings, by this token, moments ago.
 */
async function sameLaunchRetried(ctx: ApiContext, caller: Caller, want: { name: string; size: SizeName; platform: PlatformName }): Promise<boolean> {
  const s = await ctx.db.satellite.findFirst({ where: { orgId: caller.orgId, liveName: want.name, state: "creating", size: want.size, platform: want.platform, createdAt: { gt: new Date(Date.now() - LAUNCH_RETRY_WINDOW_MS) } } });
  if (!s) return false;
  const launched = await ctx.db.satelliteEvent.findFirst({ where: { satelliteId: s.id, from: null, to: "creating" }, select: { actor: true } });
  return launched?.actor === caller.actor;
}

/** When a build last used it, or its creation: the CLI prints a missing time as 1970-01-01. */
function lastUsed(s: Satellite) {
  return timestamp(s.lastActivityAt ?? s.createdAt);
}

export function computeHandlers(ctx: ApiContext) {
  return {
    async ListSatellites(call: Req<OrgRequest>) {
      const caller = await ctx.callers.require(call, "member", "list satellites");
      requireOrgId(caller, call.request.org_id);
      const rows = await ctx.db.satellite.findMany({ where: { orgId: caller.orgId, liveName: { not: null } }, orderBy: { liveName: "asc" }, take: 1000 });
      return {
        instances: rows.map((s) => ({
          name: s.name,
          platform: platformToEarthly(s.platform as PlatformName),
          status: statusOf(s.state),
          size: s.size,
          version: "",
          hidden: false,
          last_used: lastUsed(s),
          specs: specsOf(s),
        })),
      };
    },

    async GetSatellite(call: Req<NamedRequest>) {
      const caller = await ctx.callers.require(call, "member", "view satellites");
      const s = await findSatellite(ctx, caller, call.request);
      return {
        id: s.id,
        platform: platformToEarthly(s.platform as PlatformName),
        status: statusOf(s.state),
        size: s.size,
        version: "",
        last_used: lastUsed(s),
        // Managed: the CLI reserves (and so wakes) it instead of refusing a sleeping one.
        is_managed: true,
        // No certificate: the CLI speaks TLS with the system roots (or SSL_CERT_FILE) to the
        // proxy, or plaintext with global.tls_enabled=false.
        satellite_address: ctx.proxyAddress,
      };
    },

    async LaunchSatellite(call: Req<LaunchRequest>) {
      const caller = await ctx.callers.require(call, "admin", "create satellites");
      requireOrgId(caller, call.request.org_id);
      const name = satelliteNameFromEarthly(call.request.name);
      const size = sizeFromEarthly(call.request.size);
      const platform = platformFromEarthly(call.request.platform);
      refuseUnsupported(call.request);
      // The CLI always sends a window start (02:00 by default), so only weekends-only says a person asked.
      if (call.request.maintenance_weekends_only) throw invalid("maintenance windows are not offered here: a satellite's BuildKit is updated by this installation's operator");
      if (call.request.cloud_name) throw invalid("clouds are not offered here: satellites run where this installation's operator runs them; leave --cloud unset");
      const r = await requestLaunch(
        ctx.db,
        ctx.queues,
        { orgId: caller.orgId, name, size, platform, provider: ctx.provider, idleTimeoutSeconds: ctx.idleTimeoutSeconds, actor: caller.actor },
        audited(call, caller, "satellite.create", (s) => ({ name: s.name, size: s.size, platform: s.platform, idleTimeoutSeconds: s.idleTimeoutSeconds, via: "earthly" })),
      );
      if (r.kind === "exists") {
        if (await sameLaunchRetried(ctx, caller, { name, size, platform })) return { status: SatelliteStatus.CREATING, version: "" };
        throw new EarthlyApiError(status.ALREADY_EXISTS, r.reason);
      }
      if (r.kind === "over-quota") throw new EarthlyApiError(status.RESOURCE_EXHAUSTED, r.reason);
      return { status: SatelliteStatus.CREATING, version: "" };
    },

    async UpdateSatellite(call: Req<UpdateRequest>) {
      const caller = await ctx.callers.require(call, "admin", "change a satellite's size or platform");
      const s = await findSatellite(ctx, caller, call.request);
      if (call.request.drop_cache) throw invalid("dropping the cache on update is not offered here");
      if (call.request.maintenance_window_start || call.request.maintenance_weekends_only) throw invalid("maintenance windows are not offered here: a satellite's BuildKit is updated by this installation's operator");
      refuseUnsupported(call.request);
      const size = sizeFromEarthly(call.request.size, s.size as SizeName);
      const platform = updatedPlatform(call.request.platform, s.platform as PlatformName);
      if (size === s.size && platform === s.platform) {
        // Already under way (the CLI retrying an update it made, or the same asked again): done.
        if (s.state === "updating") return {};
        const keep = s.platform === "amd64" ? "" : ` (the CLI cannot tell an asked-for ${platformToEarthly("amd64")} from its default, so a move to it is made in the dashboard)`;
        throw invalid(`nothing to change: ${s.name} is already ${s.size} on ${platformToEarthly(s.platform as PlatformName)}${keep}`);
      }
      // The CLI puts an awake satellite to sleep itself (with --force) before it asks.
      const r = await requestResize(ctx.db, ctx.queues, s, { size, platform, force: false, actor: caller.actor }, audited(call, caller, "satellite.resize", () => ({ name: s.name, ...changes({ size: s.size, platform: s.platform }, { size, platform }), force: false, via: "earthly" })));
      if (r.kind === "refused") throw refused(r.reason);
      return {};
    },

    async DeleteSatellite(call: Req<DeleteRequest>) {
      const caller = await ctx.callers.require(call, "admin", "delete satellites");
      const s = await findSatellite(ctx, caller, call.request);
      const r = await requestDelete(ctx.db, ctx.queues, s, { actor: caller.actor, force: call.request.force }, audited(call, caller, "satellite.delete", () => ({ name: s.name, state: s.state, force: call.request.force, via: "earthly" })));
      if (r.kind === "refused") throw refused(r.reason);
      return {};
    },
  };
}

