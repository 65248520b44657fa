export * from "./types.ts";
export { createLocalProvider, defaultLocalCommand, renderCommand, type LocalProvider, type LocalProviderOptions } from "./local.ts";
export { detectCgroups, type CgroupMode, type CgroupHost, type CgroupSet } from "./cgroup.ts";
// The ec2 provider is imported from "@satellites/provider/ec2" where configured, so processes
// that never use EC2 do not load the AWS SDK.
