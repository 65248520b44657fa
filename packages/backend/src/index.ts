export { startBackend, type Backend, type BackendOptions } from "./server.ts";
export { probeBuildkit, probeHealth, probeReady, waitHealthy, type ProbeOptions, type ProbeResult, type WaitHealthyOptions } from "./probe.ts";
export { DEFAULT_PROTO_ROOT, LOADER_OPTIONS, TEST_SERVICE_NAME, loadTestService } from "./protos.ts";
export { createTestServiceClient, type TestServiceClient, type UnaryMethod } from "./client.ts";
export type * from "./messages.ts";
