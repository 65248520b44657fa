// The one VPC every emulated instance is in. Its addresses are the loopback ones the instances
// get (127.0.x.y), plus any CIDR blocks a test associates with it; DescribeVpcs,
// DescribeSubnets, DescribeRouteTables and GetManagedPrefixListEntries answer as EC2 does, so a
// client can find out what the VPC's networks are and where it routes others (a peered VPC, a
// VPN, a transit gateway; a route's destination may be a managed prefix list). As RunInstances
// takes any well-formed subnet id, every such subnet exists, in this VPC.
import { Ec2Error, invalidValue } from "./errors.ts";
import type { Params } from "./query.ts";
import type { XmlObject } from "./xml.ts";

export const VPC_ID = "vpc-0e1a2b3c4d5e6f700";
export const SUBNET_ID = "subnet-0e1a2b3c4d5e6f700";
/** What the instances' private addresses come from. */
export const PRIMARY_CIDR = "127.0.0.0/16";
export const SUBNET_ID_SHAPE = /^subnet-[0-9a-f]{8,17}$/;

export const ROUTE_TABLE_ID = "rtb-0e1a2b3c4d5e6f700";
const INTERNET_GATEWAY_ID = "igw-0e1a2b3c4d5e6f700";

/**
 * A route of the VPC's main table to a network outside it: `destination` is a CIDR block or a
 * managed prefix list's id (pl-…, its entries in the emulator's `vpcPrefixLists`); `target` is a
 * pcx-, tgw-, vgw- or nat- id.
 */
export interface EmulatedRoute {
  destination: string;
  target: string;
}

const PREFIX_LIST_ID = /^pl-[0-9a-f]{8,17}$/;
/** GetManagedPrefixListEntries' page size: its MaxResults, 1 to 100 (100 by default). */
const MAX_ENTRIES_PER_PAGE = 100;

/** The target's field in a route, by the id's prefix (as EC2 names them). */
function targetField(target: string): string {
  if (target.startsWith("pcx-")) return "vpcPeeringConnectionId";
  if (target.startsWith("tgw-")) return "transitGatewayId";
  if (target.startsWith("nat-")) return "natGatewayId";
  return "gatewayId";
}

export class EmulatedNetwork {
  /**
   * `extraCidrs`: further blocks associated with the VPC (as `AssociateVpcCidrBlock` would add);
   * `routes`: routes of its main table besides the local ones and the internet gateway's default;
   * `prefixLists`: the managed prefix lists' entries (CIDR blocks) by id.
   */
  constructor(
    private readonly extraCidrs: readonly string[] = [],
    private readonly routes: readonly EmulatedRoute[] = [],
    private readonly prefixLists: Readonly<Record<string, readonly string[]>> = {},
  ) {}

  describeVpcs(p: Params): XmlObject {
    const ids = p.strings("VpcId");
    for (const id of ids) if (id !== VPC_ID) throw new Ec2Error("InvalidVpcID.NotFound", `The vpc ID '${id}' does not exist`);
    const matches = p.list("Filter").every((f) => {
      const name = f.required("Name");
      const values = f.strings("Value");
      if (name === "is-default") return values.includes("true");
      if (name === "vpc-id") return values.includes(VPC_ID);
      throw new Ec2Error("InvalidParameterValue", `The filter '${name}' is invalid`);
    });
    if (!matches) return { vpcSet: [] };
    const associations = [PRIMARY_CIDR, ...this.extraCidrs].map((cidrBlock, n) => ({
      cidrBlock,
      associationId: `vpc-cidr-assoc-${String(n).padStart(17, "0")}`,
      cidrBlockState: { state: "associated" },
    }));
    return {
      vpcSet: [{ vpcId: VPC_ID, state: "available", cidrBlock: PRIMARY_CIDR, cidrBlockAssociationSet: associations, isDefault: true, ownerId: "123456789012" }],
    };
  }

  describeRouteTables(p: Params): XmlObject {
    for (const id of p.strings("RouteTableId")) if (id !== ROUTE_TABLE_ID) throw new Ec2Error("InvalidRouteTableID.NotFound", `The routeTable ID '${id}' does not exist`);
    const matches = p.list("Filter").every((f) => {
      const name = f.required("Name");
      const values = f.strings("Value");
      if (name === "vpc-id") return values.includes(VPC_ID);
      if (name === "association.main") return values.includes("true");
      throw new Ec2Error("InvalidParameterValue", `The filter '${name}' is invalid`);
    });
    if (!matches) return { routeTableSet: [] };
    const local = [PRIMARY_CIDR, ...this.extraCidrs].map((destinationCidrBlock) => ({ destinationCidrBlock, gatewayId: "local", state: "active", origin: "CreateRouteTable" }));
    const outside = this.routes.map((r) => ({
      [PREFIX_LIST_ID.test(r.destination) ? "destinationPrefixListId" : "destinationCidrBlock"]: r.destination,
      [targetField(r.target)]: r.target,
      state: "active",
      origin: "CreateRoute",
    }));
    return {
      routeTableSet: [
        {
          routeTableId: ROUTE_TABLE_ID,
          vpcId: VPC_ID,
          ownerId: "123456789012",
          routeSet: [...local, { destinationCidrBlock: "0.0.0.0/0", gatewayId: INTERNET_GATEWAY_ID, state: "active", origin: "CreateRoute" }, ...outside],
          associationSet: [{ main: true, routeTableAssociationId: "rtbassoc-0e1a2b3c4d5e6f700", routeTableId: ROUTE_TABLE_ID, associationState: { state: "associated" } }],
          tagSet: [],
        },
      ],
    };
  }

  /** A list's entries a page at a time; NextToken is the index of the page's first entry. */
  getManagedPrefixListEntries(p: Params): XmlObject {
    const id = p.required("PrefixListId");
    if (!PREFIX_LIST_ID.test(id)) throw new Ec2Error("InvalidPrefixListID.Malformed", `The prefix list ID '${id}' is malformed`);
    const entries = this.prefixLists[id];
    if (!entries) throw new Ec2Error("InvalidPrefixListID.NotFound", `The prefix list ID '${id}' does not exist`);
    const max = p.int("MaxResults") ?? MAX_ENTRIES_PER_PAGE;
    if (max < 1 || max > MAX_ENTRIES_PER_PAGE) throw invalidValue("MaxResults", String(max));
    const token = p.str("NextToken");
    const from = token === undefined ? 0 : Number(token);
    if (!Number.isInteger(from) || from < 0 || from > entries.length) throw new Ec2Error("InvalidNextToken", "The token is invalid");
    const page = entries.slice(from, from + max);
    const next = from + page.length < entries.length ? String(from + page.length) : undefined;
    return { entrySet: page.map((cidr) => ({ cidr })), ...(next !== undefined && { nextToken: next }) };
  }

  describeSubnets(p: Params): XmlObject {
    const ids = p.strings("SubnetId");
    for (const id of ids) if (!SUBNET_ID_SHAPE.test(id)) throw new Ec2Error("InvalidSubnetID.Malformed", `Invalid id: "${id}"`);
    return {
      subnetSet: (ids.length ? ids : [SUBNET_ID]).map((subnetId) => ({
        subnetId,
        vpcId: VPC_ID,
        state: "available",
        cidrBlock: PRIMARY_CIDR,
        availabilityZone: "us-east-1a",
        defaultForAz: subnetId === SUBNET_ID,
      })),
    };
  }
}
