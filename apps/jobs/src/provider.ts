// The compute provider chosen by configuration. Only the jobs process ever builds one; the EC2
// SDK is loaded only when the ec2 provider is configured.
import path from "node:path";
import type { Config } from "@satellites/config";
import * as grpc from "@grpc/grpc-js";
import { loadCa, type CertificateAuthority } from "@satellites/pki";
import type { Provider } from "@satellites/provider";
import type { Redis } from "ioredis";
import { accountPacer } from "./ec2-pace.ts";

/** The control plane's CA: the operator's files, else the embedded one (generated on first start). */
export function caFromConfig(config: Config): Promise<CertificateAuthority> {
  return loadCa({ dir: path.resolve(config.SATELLITE_CA_DIR), certFile: config.SATELLITE_CA_CERT_FILE, keyFile: config.SATELLITE_CA_KEY_FILE });
}

/** The health probe's side of the mutual-TLS hop: a client certificate from the CA. */
export async function hopCredentials(ca: CertificateAuthority): Promise<grpc.ChannelCredentials> {
  const client = await ca.issueClient(`jobs ${process.pid}`);
  return grpc.credentials.createSsl(Buffer.from(client.caPem), Buffer.from(client.keyPem), Buffer.from(client.certPem));
}

/** `redis`: EC2 calls are paced account-wide through it (all jobs processes together). */
export async function providerFromConfig(config: Config, ca: CertificateAuthority, redis?: Redis): Promise<Provider> {
  if (config.PROVIDER === "ec2") {
    const { AWS_RATES, createEc2Provider } = await import("@satellites/provider/ec2");
    return createEc2Provider({
      ...(redis ? { pace: accountPacer(redis, config.QUEUE_PREFIX ?? "satellites", AWS_RATES) } : {}),
      region: config.AWS_REGION,
      ...(config.AWS_ENDPOINT_URL_EC2 ? { endpoint: config.AWS_ENDPOINT_URL_EC2 } : {}),
      ...(config.EC2_AMI_AMD64 ? { amiAmd64: config.EC2_AMI_AMD64 } : {}),
      ...(config.EC2_AMI_ARM64 ? { amiArm64: config.EC2_AMI_ARM64 } : {}),
      ...(config.EC2_SUBNET_ID ? { subnetId: config.EC2_SUBNET_ID } : {}),
      ...(config.EC2_SECURITY_GROUP_IDS ? { securityGroupIds: config.EC2_SECURITY_GROUP_IDS.split(",").map((s) => s.trim()) } : {}),
      satellitePort: config.SATELLITE_PORT,
      stepNetwork: config.EC2_BUILDKIT_NETWORK === "host" ? { mode: "host" } : { mode: "bridge", subnet: config.EC2_BUILDKIT_SUBNET },
      pidsMax: config.EC2_SATELLITE_PIDS_MAX,
      hibernate: config.EC2_HIBERNATE,
      ca,
    });
  }
  const { bridgeNetwork, buildkitFlavor, createLocalProvider } = await import("@satellites/provider/local");
  // Steps on the host's network would reach Postgres and Redis on its loopback: only on request.
  const network = () =>
    config.LOCAL_BUILDKIT_NETWORK === "host"
      ? { mode: "host" as const }
      : bridgeNetwork({ cniBinDir: config.LOCAL_CNI_BIN_DIR, subnets: config.LOCAL_BUILDKIT_SUBNETS, ports: config.LOCAL_SATELLITE_PORTS });
  return createLocalProvider({
    dataDir: path.resolve(config.LOCAL_DATA_DIR),
    cgroupParent: config.LOCAL_CGROUP_PARENT,
    portRange: config.LOCAL_SATELLITE_PORTS,
    ca,
    logLimitBytes: config.LOCAL_SATELLITE_LOG_MAX_MIB * 1024 * 1024,
    pidsMax: config.LOCAL_SATELLITE_PIDS_MAX,
    ...(config.LOCAL_SATELLITE_COMMAND ? { command: config.LOCAL_SATELLITE_COMMAND } : {}),
    ...(config.LOCAL_BUILDKITD ? { daemon: { kind: "buildkit" as const, buildkitd: config.LOCAL_BUILDKITD, runc: config.LOCAL_RUNC, network: network(), flavor: buildkitFlavor(config.LOCAL_BUILDKITD) } } : {}),
  });
}
