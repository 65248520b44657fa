// Loads the gRPC interop-test protos from the system (Debian's grpc-proto package) at run time,
// so the repo carries no copies that could drift from what other gRPC implementations test with.
import { existsSync } from "node:fs";
import { join } from "node:path";
import type * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

export const DEFAULT_PROTO_ROOT = "/usr/share/grpc-proto";
export const TEST_SERVICE_NAME = "grpc.testing.TestService";
const TEST_PROTO = "grpc/testing/test.proto";

/** Server and clients decode with the same options so field names (snake_case) line up. */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

function isService(def: protoLoader.AnyDefinition | undefined): def is protoLoader.ServiceDefinition {
  // Message and enum definitions carry a `format` marker; services are plain method maps.
  return def !== undefined && !("format" in def);
}

const cache = new Map<string, grpc.ServiceDefinition | null>();

/**
 * The TestService definition from `protoRoot`, or null when the protos are not installed there.
 * Parsed once per root: parsing costs tens of milliseconds and every backend needs the same thing.
 */
export function loadTestService(protoRoot: string = DEFAULT_PROTO_ROOT): grpc.ServiceDefinition | null {
  const cached = cache.get(protoRoot);
  if (cached !== undefined) return cached;
  let service: grpc.ServiceDefinition | null = null;
  if (existsSync(join(protoRoot, TEST_PROTO))) {
    const pkg = protoLoader.loadSync(TEST_PROTO, { ...LOADER_OPTIONS, includeDirs: [protoRoot] });
    const def = pkg[TEST_SERVICE_NAME];
    if (!isService(def)) throw new Error(`${TEST_SERVICE_NAME} not found in ${join(protoRoot, TEST_PROTO)}`);
    service = def;
  }
  cache.set(protoRoot, service);
  return service;
}
