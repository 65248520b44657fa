// An EC2 emulator in the test process and the env that points the real jobs worker (and so
// the real AWS SDK) at it over HTTP.
import { EMULATOR_AMIS, startEmulator, type Emulator, type EmulatorOptions } from "@satellites/ec2-emulator";
import { freePort, TEST_CREDENTIALS } from "@satellites/ec2-emulator/testing";
import { jobsWorld, type JobsWorld, TINY_HEALTH } from "./harness.ts";

/** `command`: what every instance runs instead (its output is the instance's console). */
export async function ec2World(
  opts: { throttle?: boolean; tiny?: boolean; command?: readonly string[]; env?: NodeJS.ProcessEnv; timings?: EmulatorOptions["timings"] } = {},
): Promise<{ emu: Emulator; world: JobsWorld }> {
  const satellitePort = await freePort();
  const emu = await startEmulator({
    satellitePort,
    ...(opts.throttle === false ? { throttle: false } : {}),
    ...(opts.tiny ? { command: TINY_HEALTH } : {}),
    ...(opts.command ? { command: opts.command } : {}),
    ...(opts.timings ? { timings: opts.timings } : {}),
  });
  const world = await jobsWorld({
    PROVIDER: "ec2",
    AWS_ENDPOINT_URL_EC2: emu.endpoint,
    AWS_REGION: "us-east-1",
    AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
    EC2_AMI_AMD64: EMULATOR_AMIS.amd64,
    EC2_AMI_ARM64: EMULATOR_AMIS.arm64,
    SATELLITE_PORT: String(satellitePort),
    ...opts.env,
  });
  return { emu, world };
}
