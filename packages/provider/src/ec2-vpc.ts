// Whether the build steps' bridge subnet (EC2_BUILDKIT_SUBNET) is clear of the VPC the
// satellites are launched into, and of the networks that VPC routes to (a peered VPC where the
// proxies run, a VPN, a transit gateway). On an instance whose bridge overlaps them, replies to
// the proxies (and everything else in that range) would go to the bridge: the satellite would
// never pass a health check, and nothing would say why. So a launch is refused first, with the
// reason.
import { DescribeRouteTablesCommand, DescribeSubnetsCommand, DescribeVpcsCommand, type EC2Client, GetManagedPrefixListEntriesCommand, type Route } from "@aws-sdk/client-ec2";
import { overlaps } from "./host-routes.ts";
import { PermanentProviderError } from "./types.ts";

/** The provider's paced, error-mapping way of calling EC2. */
export type Ec2Send = <T>(context: string, fn: () => Promise<T>) => Promise<T>;

/** A network the VPC routes to outside itself, and through what (a pcx-, tgw-, vgw-… id). */
export interface OutsideRoute {
  destination: string;
  via: string;
}

export interface LaunchVpc {
  vpcId: string;
  cidrs: string[];
  /** Empty when the provider may not read the route tables (ec2:DescribeRouteTables). */
  routes: OutsideRoute[];
}

/** The VPC satellites launch into (the configured subnet's, else the region's default), its CIDR blocks and its routes outside. */
export async function launchVpc(ec2: EC2Client, send: Ec2Send, subnetId: string | undefined): Promise<LaunchVpc | undefined> {
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
  return { vpcId: vpc.VpcId, cidrs, routes: await outsideRoutes(ec2, send, vpc.VpcId, cidrs) };
}

/**
 * The IPv4 routes of the VPC's tables to networks outside it: not its own blocks (local), not a
 * default route (it overlaps everything and takes only what nothing else routes). A route to a
 * managed prefix list (a corporate network's ranges, a gateway endpoint's) stands for each of
 * its entries. Without the permission to read the tables, none; without the one to read the
 * lists, the routes to them are left out: the rest of the check still stands.
 */
async function outsideRoutes(ec2: EC2Client, send: Ec2Send, vpcId: string, cidrs: string[]): Promise<OutsideRoute[]> {
  const routes: OutsideRoute[] = [];
  const toLists: { list: string; via: string }[] = [];
  let next: string | undefined;
  try {
    do {
      const out = await send("DescribeRouteTables", () => ec2.send(new DescribeRouteTablesCommand({ Filters: [{ Name: "vpc-id", Values: [vpcId] }], ...(next ? { NextToken: next } : {}) })));
      for (const r of (out.RouteTables ?? []).flatMap((t) => t.Routes ?? [])) {
        if (r.GatewayId === "local") continue;
        if (r.DestinationPrefixListId) toLists.push({ list: r.DestinationPrefixListId, via: targetOf(r) });
        const destination = r.DestinationCidrBlock;
        if (!destination || cidrs.includes(destination) || destination.endsWith("/0")) continue;
        routes.push({ destination, via: targetOf(r) });
      }
      next = out.NextToken;
    } while (next);
  } catch (err) {
    if (unauthorized(err)) return [];
    throw err;
  }
  const entries = new Map<string, string[]>();
  for (const { list, via } of toLists) {
    if (!entries.has(list)) entries.set(list, await prefixListEntries(ec2, send, list));
    for (const destination of entries.get(list)!) routes.push({ destination, via: `${via} (prefix list ${list})` });
  }
  return routes;
}

/**
 * A managed prefix list's IPv4 blocks (the steps' subnet is IPv4), every page. None for a list it
 * may not read, or one gone since its route was made: the rest of the check still stands.
 */
async function prefixListEntries(ec2: EC2Client, send: Ec2Send, list: string): Promise<string[]> {
  const blocks: string[] = [];
  let next: string | undefined;
  try {
    do {
      const out = await send(`GetManagedPrefixListEntries ${list}`, () => ec2.send(new GetManagedPrefixListEntriesCommand({ PrefixListId: list, MaxResults: 100, ...(next ? { NextToken: next } : {}) })));
      for (const e of out.Entries ?? []) if (e.Cidr && !e.Cidr.includes(":") && !e.Cidr.endsWith("/0")) blocks.push(e.Cidr);
      next = out.NextToken;
    } while (next);
  } catch (err) {
    if (err instanceof PermanentProviderError) return [];
    throw err;
  }
  return blocks;
}

/** EC2 refused the call for want of a permission. */
export const unauthorized = (err: unknown): boolean => err instanceof PermanentProviderError && err.code === "UnauthorizedOperation";

function targetOf(r: Route): string {
  return r.VpcPeeringConnectionId ?? r.TransitGatewayId ?? r.GatewayId ?? r.NatGatewayId ?? r.NetworkInterfaceId ?? r.InstanceId ?? r.LocalGatewayId ?? r.CarrierGatewayId ?? "a route";
}

/** Throws (StepSubnetInVpc) when the steps' subnet overlaps one of the VPC's blocks or a network it routes to. */
export function assertStepSubnetClear(stepSubnet: string, vpc: LaunchVpc): void {
  const clash = vpc.cidrs.find((cidr) => overlaps(cidr, stepSubnet));
  if (clash) {
    throw new PermanentProviderError(
      `the build steps' subnet ${stepSubnet} (EC2_BUILDKIT_SUBNET) overlaps ${clash} of ${vpc.vpcId}, where satellites are launched: the instance would send that range's traffic, the proxies' included, to its steps' bridge. Set EC2_BUILDKIT_SUBNET to a range outside the VPC`,
      "StepSubnetInVpc",
    );
  }
  const routed = vpc.routes.find((r) => overlaps(r.destination, stepSubnet));
  if (routed) {
    throw new PermanentProviderError(
      `the build steps' subnet ${stepSubnet} (EC2_BUILDKIT_SUBNET) overlaps ${routed.destination}, which ${vpc.vpcId} routes through ${routed.via}: the instance would send that range's traffic (proxies in a peered VPC or behind a VPN included) to its steps' bridge. Set EC2_BUILDKIT_SUBNET to a range that neither the VPC nor its routes use`,
      "StepSubnetInVpc",
    );
  }
}
