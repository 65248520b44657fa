export * from "./issue.ts";
export * from "./authorities.ts";
export * from "./identity.ts";
