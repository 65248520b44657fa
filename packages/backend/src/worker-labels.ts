// BuildKit's worker labels (moby.buildkit.v1.Control/ListWorkers): what a daemon says of the
// configuration it runs with. The control plane reads one it wrote itself (EC2 user-data's
// `satellites.limits`) to tell a daemon started with the current limits from one still running
// the previous boot's. Encoded and decoded with protobufjs's wire codec; only the fields read.
import type * as grpc from "@grpc/grpc-js";
import protobuf from "protobufjs/minimal.js";

export const LIST_WORKERS = "/moby.buildkit.v1.Control/ListWorkers";

/** ListWorkersResponse { repeated WorkerRecord record = 1 }, each record only its ID (1) and Labels (2). */
export function encodeListWorkers(workers: { id: string; labels: Record<string, string> }[]): Buffer {
  const w = protobuf.Writer.create();
  for (const worker of workers) {
    w.uint32((1 << 3) | 2).fork();
    w.uint32((1 << 3) | 2).string(worker.id);
    for (const [key, value] of Object.entries(worker.labels)) {
      w.uint32((2 << 3) | 2).fork().uint32((1 << 3) | 2).string(key).uint32((2 << 3) | 2).string(value).ldelim();
    }
    w.ldelim();
  }
  return Buffer.from(w.finish());
}

/** Each worker's labels in a ListWorkersResponse; throws on bytes that are not one. */
export function decodeWorkerLabels(bytes: Uint8Array): Record<string, string>[] {
  const r = protobuf.Reader.create(bytes);
  const workers: Record<string, string>[] = [];
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag >>> 3 !== 1 || (tag & 7) !== 2) {
      r.skipType(tag & 7);
      continue;
    }
    const end = r.uint32() + r.pos;
    const labels: Record<string, string> = {};
    while (r.pos < end) {
      const t = r.uint32();
      if (t >>> 3 !== 2 || (t & 7) !== 2) {
        r.skipType(t & 7);
        continue;
      }
      const entryEnd = r.uint32() + r.pos;
      let key = "";
      let value = "";
      while (r.pos < entryEnd) {
        const e = r.uint32();
        if (e >>> 3 === 1 && (e & 7) === 2) key = r.string();
        else if (e >>> 3 === 2 && (e & 7) === 2) value = r.string();
        else r.skipType(e & 7);
      }
      labels[key] = value;
    }
    workers.push(labels);
  }
  return workers;
}

/** A ListWorkers handler for a grpc-js server serving these workers (the built-in backend). */
export function listWorkersHandler(workers: { id: string; labels: Record<string, string> }[]): grpc.handleUnaryCall<Buffer, Buffer> {
  const answer = encodeListWorkers(workers);
  return (_call, callback) => callback(null, answer);
}
