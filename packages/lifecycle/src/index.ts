export * from "./wake.ts";
export * from "./sleep.ts";
export * from "./delete.ts";
export * from "./limits.ts";
export * from "./resize.ts";
export * from "./launch.ts";
export * from "./quota.ts";
export * from "./schedule.ts";
