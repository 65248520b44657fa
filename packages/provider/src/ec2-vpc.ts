// Whether the build steps' bridge subnet (EC2_BUILDKIT_SUBNET) is clear of the VPC the
// satellites are launched into. On an instance whose bridge overlaps the VPC, replies to the
// proxies (and everything else in that range) would go to the bridge: the satellite would never
// pass a health check, and nothing would say why. So a launch is refused first, with the reason.
import { DescribeSubnetsCommand, DescribeVpcsCommand, type EC2Client } from "@aws-sdk/client-ec2";
import { overlaps } from "./host-routes.ts";
import { PermanentProviderError } from "./types.ts";

/** The provider's paced, error-mapping way of calling EC2. */
export type Ec2Send = <T>(context: string, fn: () => Promise<T>) => Promise<T>;

/** The VPC satellites launch into (the configured subnet's, else the region's default) and its CIDR blocks. */
export async function launchVpc(ec2: EC2Client, send: Ec2Send, subnetId: string | undefined): Promise<{ vpcId: string; cidrs: string[] } | undefined> {
  let vpcId: string | undefined;
  if (subnetId) {
    const out = await send(`DescribeSubnets ${subnetId}`, () => ec2.send(new DescribeSubnetsCommand({ SubnetIds: [subnetId] })));
    vpcId = out.Subnets?.[0]?.VpcId;
  }
  const out = await send("DescribeVpcs", () =>
    ec2.send(new DescribeVpcsCommand(vpcId ? { VpcIds: [vpcId] } : { Filters: [{ Name: "is-default", Values: ["true"] }] })),
  );
  const vpc = out.Vpcs?.[0];
  if (!vpc?.VpcId) return undefined;
  const associated = (vpc.CidrBlockAssociationSet ?? []).filter((a) => a.CidrBlockState?.State === "associated").map((a) => a.CidrBlock);
  const cidrs = [...new Set([vpc.CidrBlock, ...associated].filter((c): c is string => typeof c === "string"))];
  return { vpcId: vpc.VpcId, cidrs };
}

/** Throws (StepSubnetInVpc) when the steps' subnet overlaps one of the VPC's blocks. */
export function assertStepSubnetClear(stepSubnet: string, vpc: { vpcId: string; cidrs: string[] }): void {
  const clash = vpc.cidrs.find((cidr) => overlaps(cidr, stepSubnet));
  if (clash) {
    throw new PermanentProviderError(
      `the build steps' subnet ${stepSubnet} (EC2_BUILDKIT_SUBNET) overlaps ${clash} of ${vpc.vpcId}, where satellites are launched: the instance would send that range's traffic, the proxies' included, to its steps' bridge. Set EC2_BUILDKIT_SUBNET to a range outside the VPC`,
      "StepSubnetInVpc",
    );
  }
}
