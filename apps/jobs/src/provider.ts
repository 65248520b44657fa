// The compute provider chosen by configuration. Only the jobs process ever builds one; the EC2
// SDK is loaded only when the ec2 provider is configured.
import path from "node:path";
import type { Config } from "@satellites/config";
import type { Provider } from "@satellites/provider";

export async function providerFromConfig(config: Config): Promise<Provider> {
  if (config.PROVIDER === "ec2") {
    const { createEc2Provider } = await import("@satellites/provider/ec2");
    return createEc2Provider({
      region: config.AWS_REGION,
      ...(config.AWS_ENDPOINT_URL_EC2 ? { endpoint: config.AWS_ENDPOINT_URL_EC2 } : {}),
      ...(config.EC2_AMI_AMD64 ? { amiAmd64: config.EC2_AMI_AMD64 } : {}),
      ...(config.EC2_AMI_ARM64 ? { amiArm64: config.EC2_AMI_ARM64 } : {}),
      ...(config.EC2_SUBNET_ID ? { subnetId: config.EC2_SUBNET_ID } : {}),
      ...(config.EC2_SECURITY_GROUP_IDS ? { securityGroupIds: config.EC2_SECURITY_GROUP_IDS.split(",").map((s) => s.trim()) } : {}),
      satellitePort: config.SATELLITE_PORT,
      hibernate: config.EC2_HIBERNATE,
    });
  }
  const { createLocalProvider } = await import("@satellites/provider/local");
  return createLocalProvider({
    dataDir: path.resolve(config.LOCAL_DATA_DIR),
    cgroupParent: config.LOCAL_CGROUP_PARENT,
    portRange: config.LOCAL_SATELLITE_PORTS,
    logLimitBytes: config.LOCAL_SATELLITE_LOG_MAX_MIB * 1024 * 1024,
    ...(config.LOCAL_SATELLITE_COMMAND ? { command: config.LOCAL_SATELLITE_COMMAND } : {}),
    ...(config.LOCAL_BUILDKITD ? { daemon: { kind: "buildkit" as const, buildkitd: config.LOCAL_BUILDKITD, runc: config.LOCAL_RUNC } } : {}),
  });
}
