export * from "./queues.ts";
export * from "./leases.ts";
export * from "./activity.ts";
export * from "./cache.ts";
