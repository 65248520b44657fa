export * from "./windows.ts";
export * from "./periods.ts";
export * from "./plan.ts";
