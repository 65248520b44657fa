export { startEmulator, defaultCommand, DEFAULT_SATELLITE_PORT, type Emulator, type EmulatorOptions } from "./emulator.ts";
export { connectControl, CONTROL_PREFIX, type EmulatorControl, type RemoteControl, type Stats } from "./control.ts";
export { EMULATOR_AMIS, type ImageInfo } from "./images.ts";
export { INSTANCE_TYPES, type InstanceTypeInfo, type Architecture } from "./instance-types.ts";
export { DEFAULT_TIMINGS, STATE_CODES, type Ec2State, type InstanceFaults, type InstanceSnapshot, type Timings } from "./instances.ts";
export { AWS_RATES, type ThrottleClass, type TokenRate } from "./throttle.ts";
export type { ErrorFault } from "./faults.ts";
export type { ProcessState } from "./processes.ts";
