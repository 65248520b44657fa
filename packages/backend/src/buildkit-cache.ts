// A client for the two BuildKit calls the control plane makes itself: Control/DiskUsage (the
// cache's size and entry count) and Control/Prune (reset the cache), over the same mutual-TLS
// hop the proxy uses. The messages are those of moby/buildkit's api/services/control/control.proto
// (v0.13+), declared here as protobufjs reflection (only the fields read or sent), so protobufjs
// does the encoding: no hand-written codec, no vendored .proto file.
import * as grpc from "@grpc/grpc-js";
import protobuf from "protobufjs";

const root = protobuf.Root.fromJSON({
  nested: {
    DiskUsageRequest: { fields: { filter: { rule: "repeated", type: "string", id: 1 }, ageLimit: { type: "int64", id: 2 } } },
    DiskUsageResponse: { fields: { record: { rule: "repeated", type: "UsageRecord", id: 1 } } },
    UsageRecord: {
      fields: {
        ID: { type: "string", id: 1 },
        Mutable: { type: "bool", id: 2 },
        InUse: { type: "bool", id: 3 },
        Size: { type: "int64", id: 4 },
        Description: { type: "string", id: 9 },
        RecordType: { type: "string", id: 10 },
        Shared: { type: "bool", id: 11 },
      },
    },
    PruneRequest: {
      fields: {
        filter: { rule: "repeated", type: "string", id: 1 },
        all: { type: "bool", id: 2 },
        keepDuration: { type: "int64", id: 3 },
        reservedSpace: { type: "int64", id: 4 },
        maxUsedSpace: { type: "int64", id: 5 },
        minFreeSpace: { type: "int64", id: 6 },
      },
    },
  },
});
const DiskUsageRequest = root.lookupType("DiskUsageRequest");
const DiskUsageResponse = root.lookupType("DiskUsageResponse");
const UsageRecord = root.lookupType("UsageRecord");
const PruneRequest = root.lookupType("PruneRequest");

interface Record_ {
  ID: string;
  InUse: boolean;
  Size: number;
  Shared: boolean;
}

const toPlain = { longs: Number, defaults: true } as const;

export interface CacheUsage {
  /** Bytes the cache's records take (shared records counted once). */
  bytes: number;
  entries: number;
  /** Records in use right now (a build holds them). */
  inUse: number;
}

export interface HopOptions {
  timeoutMs: number;
  /** The proxy's or the jobs process's client certificate; default plaintext (tests). */
  credentials?: grpc.ChannelCredentials;
  /** The satellite's certificate name (satelliteServerName). */
  serverName?: string;
}

/** What the call failed with, for the history and the UI (BuildKit's own message kept). */
export class BuildkitError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
  /** The daemon is not BuildKit (the built-in backend) or too old to have the call. */
  get unsupported(): boolean {
    return this.code === grpc.status.UNIMPLEMENTED;
  }
}

function client(upstream: string, opts: HopOptions): grpc.Client {
  return new grpc.Client(upstream, opts.credentials ?? grpc.credentials.createInsecure(), {
    "grpc.use_local_subchannel_pool": 1,
    "grpc.enable_retries": 0,
    // BuildKit's own limit; a large cache lists many records.
    "grpc.max_receive_message_length": 64 << 20,
    ...(opts.serverName ? { "grpc.ssl_target_name_override": opts.serverName, "grpc.default_authority": opts.serverName } : {}),
  });
}

function failure(err: grpc.ServiceError): BuildkitError {
  return new BuildkitError(err.code, err.details || err.message);
}

function usageOf(records: Record_[]): CacheUsage {
  let bytes = 0;
  let inUse = 0;
  for (const r of records) {
    bytes += r.Size > 0 ? r.Size : 0;
    if (r.InUse) inUse++;
  }
  return { bytes, entries: records.length, inUse };
}

/** Control/DiskUsage: the size of the satellite's BuildKit cache. */
export function diskUsage(upstream: string, opts: HopOptions): Promise<CacheUsage> {
  const c = client(upstream, opts);
  return new Promise<CacheUsage>((resolve, reject) => {
    c.makeUnaryRequest(
      "/moby.buildkit.v1.Control/DiskUsage",
      (req: object) => Buffer.from(DiskUsageRequest.encode(DiskUsageRequest.fromObject(req)).finish()),
      (buf: Buffer) => DiskUsageResponse.toObject(DiskUsageResponse.decode(buf), toPlain) as { record: Record_[] },
      {},
      new grpc.Metadata(),
      { deadline: Date.now() + opts.timeoutMs },
      (err, res) => (err ? reject(failure(err)) : resolve(usageOf(res?.record ?? []))),
    );
  }).finally(() => c.close());
}

export interface PruneResult {
  /** Bytes the removed records took. */
  freedBytes: number;
  removed: number;
}

/** Control/Prune with `all`: every record not in use goes (BuildKit's `buildctl prune --all`). */
export function pruneAll(upstream: string, opts: HopOptions): Promise<PruneResult> {
  const c = client(upstream, opts);
  return new Promise<PruneResult>((resolve, reject) => {
    const out: PruneResult = { freedBytes: 0, removed: 0 };
    const call = c.makeServerStreamRequest(
      "/moby.buildkit.v1.Control/Prune",
      (req: object) => Buffer.from(PruneRequest.encode(PruneRequest.fromObject(req)).finish()),
      (buf: Buffer) => UsageRecord.toObject(UsageRecord.decode(buf), toPlain) as Record_,
      { all: true },
      new grpc.Metadata(),
      { deadline: Date.now() + opts.timeoutMs },
    );
    call.on("data", (r: Record_) => {
      out.removed++;
      out.freedBytes += r.Size > 0 ? r.Size : 0;
    });
    call.on("error", (err: grpc.ServiceError) => reject(failure(err)));
    call.on("end", () => resolve(out));
  }).finally(() => c.close());
}
