export * from "./table.ts";
export * from "./errors.ts";
export * from "./transition.ts";
export * from "./create.ts";
export * from "./announce.ts";
export * from "./watcher.ts";
export * from "./transition-many.ts";
export * from "./history.ts";
