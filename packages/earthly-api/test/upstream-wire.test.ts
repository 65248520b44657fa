// Wire compatibility is checked, not assumed: our own .proto files for the part of Earthly's
// cloud API we serve, against upstream github.com/earthly/cloud-api at the version the Earthly
// CLI peer pins (fetched through the Go module proxy into the peers cache by `npm run peers`).
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import protobuf from "protobufjs";
import { afterAll, describe, expect, it } from "vitest";
import { requirePeerSource } from "@satellites/testing/peers";
import { protoFiles, protoRoot } from "../src/proto.ts";

// Upstream files of the packages we serve (compute, billing, logstream, analytics; secrets for
// the account messages the CLI reads over REST as protojson).
const UPSTREAM_FILES = ["compute/compute.proto", "billing/billing.proto", "logstream/logstream.proto", "analytics/analytics.proto", "secrets/secrets.proto"];

const scratch = mkdtempSync(path.join(tmpdir(), "cloud-api-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Upstream, parsed by protobufjs. Their HTTP annotations (google/api/annotations.proto, not on
 *  this machine) only describe the REST gateway, so the import is dropped from a scratch copy. */
function loadUpstream(): protobuf.Root {
  cpSync(requirePeerSource("earthly-cloud-api"), scratch, { recursive: true });
  for (const dir of readdirSync(scratch, { withFileTypes: true }).filter((d) => d.isDirectory())) {
    for (const f of readdirSync(path.join(scratch, dir.name)).filter((n) => n.endsWith(".proto"))) {
      const file = path.join(scratch, dir.name, f);
      writeFileSync(file, readFileSync(file, "utf8").replace(/^import "google\/api\/annotations\.proto";$/m, ""));
    }
  }
  const root = new protobuf.Root();
  root.loadSync(UPSTREAM_FILES.map((f) => path.join(scratch, f)), { keepCase: true }).resolveAll();
  return root;
}

function loadOurs(): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => (target.startsWith("google/protobuf/") ? target : path.join(protoRoot, target));
  root.loadSync([...protoFiles], { keepCase: true }).resolveAll();
  return root;
}

const fqn = (t: protobuf.ReflectionObject) => t.fullName.replace(/^\./, "");

function walk(ns: protobuf.NamespaceBase, out: protobuf.ReflectionObject[] = []): protobuf.ReflectionObject[] {
  for (const child of ns.nestedArray) {
    if (child instanceof protobuf.Type || child instanceof protobuf.Enum || child instanceof protobuf.Service) out.push(child);
    if (child instanceof protobuf.Namespace || child instanceof protobuf.Type) walk(child, out);
  }
  return out;
}

/** A field's wire identity: its scalar type or the full name of its message/enum, repeated or map. */
function fieldShape(f: protobuf.Field): string {
  const type = f.resolvedType ? fqn(f.resolvedType) : f.type;
  if (f instanceof protobuf.MapField) return `map<${f.keyType}, ${type}>`;
  return `${f.repeated ? "repeated " : ""}${type}`;
}

/** Every difference between what we declare and upstream; fields we leave out are allowed
 *  (they arrive as unknown fields), anything we declare must be exactly upstream's. */
function wireDifferences(ours: protobuf.Root, upstream: protobuf.Root): string[] {
  const problems: string[] = [];
  for (const obj of walk(ours)) {
    const name = fqn(obj);
    const theirs = upstream.lookup(name);
    if (!theirs || theirs.constructor !== obj.constructor) {
      problems.push(`${name}: not in upstream (as a ${obj.constructor.name})`);
      continue;
    }
    if (obj instanceof protobuf.Type) {
      const up = theirs as protobuf.Type;
      for (const f of obj.fieldsArray) {
        const u = up.fieldsById[f.id];
        if (!u) problems.push(`${name}.${f.name} = ${f.id}: upstream has no field ${f.id}`);
        else if (u.name !== f.name) problems.push(`${name} field ${f.id}: ours is ${f.name}, upstream ${u.name}`);
        else if (fieldShape(u) !== fieldShape(f)) problems.push(`${name}.${f.name}: ours is ${fieldShape(f)}, upstream ${fieldShape(u)}`);
        else if (Boolean(u.partOf) !== Boolean(f.partOf) || (u.partOf && f.partOf && u.partOf.name !== f.partOf.name && !u.partOf.name.startsWith("_")))
          problems.push(`${name}.${f.name}: oneof ${f.partOf?.name ?? "none"}, upstream ${u.partOf?.name ?? "none"}`);
      }
    } else if (obj instanceof protobuf.Enum) {
      const up = theirs as protobuf.Enum;
      for (const [k, v] of Object.entries(obj.values)) {
        if (up.values[k] !== v) problems.push(`${name}.${k} = ${v}: upstream ${up.values[k] ?? "has no such value"}`);
      }
    } else if (obj instanceof protobuf.Service) {
      const up = theirs as protobuf.Service;
      for (const m of obj.methodsArray) {
        const u = up.methods[m.name];
        const shape = (x: protobuf.Method) => `${x.requestStream ? "stream " : ""}${fqn(x.resolvedRequestType!)} -> ${x.responseStream ? "stream " : ""}${fqn(x.resolvedResponseType!)}`;
        if (!u) problems.push(`${name}/${m.name}: not in upstream`);
        else if (shape(u) !== shape(m)) problems.push(`${name}/${m.name}: ours ${shape(m)}, upstream ${shape(u)}`);
      }
    }
  }
  return problems;
}

describe("our Earthly cloud API definitions against upstream cloud-api", () => {
  const upstream = loadUpstream();
  const ours = loadOurs();

  it("every service, method, message, field (number, name, type, label, oneof) and enum value we declare is upstream's", () => {
    expect(wireDifferences(ours, upstream)).toEqual([]);
  });

  it("covers the calls the Earthly CLI makes for satellites", () => {
    const compute = ours.lookupService("api.public.compute.Compute");
    expect(Object.keys(compute.methods).sort()).toEqual(
      ["DeleteSatellite", "GetSatellite", "LaunchSatellite", "ListSatellites", "ReserveSatellite", "SleepSatellite", "UpdateSatellite", "WakeSatellite"],
    );
    expect(ours.lookupService("api.public.billing.Billing").methods.GetBillingPlan).toBeDefined();
    expect(ours.lookupService("api.public.logstream.LogStream").methods.StreamLogs).toBeDefined();
    expect(ours.lookupService("api.public.analytics.Analytics").methods.SendAnalytics).toBeDefined();
    expect(ours.lookupType("api.public.secrets.LoginResponse")).toBeDefined();
  });

  it("catches a wrong field number, a renamed field, a changed label and an extra enum value", () => {
    // The check itself can fail: mutate a copy of ours and see each change reported.
    const mutated = loadOurs();
    const get = mutated.lookupType("api.public.compute.GetSatelliteResponse");
    const addr = get.fields.satellite_address!;
    get.remove(addr);
    get.add(new protobuf.Field("satellite_address", addr.id + 100, "string"));
    const list = mutated.lookupType("api.public.compute.ListSatellitesResponse");
    const sats = list.fieldsArray.find((f) => f.repeated)!;
    list.remove(sats);
    list.add(new protobuf.Field(sats.name, sats.id, sats.type));
    mutated.lookupEnum("api.public.compute.SatelliteStatus").add("SATELLITE_STATUS_BOGUS", 42);
    mutated.resolveAll();
    const problems = wireDifferences(mutated, upstream);
    expect(problems.some((p) => p.includes("GetSatelliteResponse.satellite_address"))).toBe(true);
    expect(problems.some((p) => p.includes(`ListSatellitesResponse.${sats.name}`) && p.includes("repeated"))).toBe(true);
    expect(problems.some((p) => p.includes("SATELLITE_STATUS_BOGUS"))).toBe(true);
  });
});
