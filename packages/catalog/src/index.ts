export * from "./sizes.ts";
export * from "./limits.ts";
