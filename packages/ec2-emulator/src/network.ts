// The one VPC every emulated instance is in. Its addresses are the loopback ones the instances
// get (127.0.x.y), plus any CIDR blocks a test associates with it; DescribeVpcs and
// DescribeSubnets answer as EC2 does, so a client can find out what the VPC's networks are. As
// RunInstances takes any well-formed subnet id, every such subnet exists, in this VPC.
import { Ec2Error } from "./errors.ts";
import type { Params } from "./query.ts";
import type { XmlObject } from "./xml.ts";

export const VPC_ID = "vpc-0e1a2b3c4d5e6f700";
export const SUBNET_ID = "subnet-0e1a2b3c4d5e6f700";
/** What the instances' private addresses come from. */
export const PRIMARY_CIDR = "127.0.0.0/16";
export const SUBNET_ID_SHAPE = /^subnet-[0-9a-f]{8,17}$/;

export class EmulatedNetwork {
  /** `extraCidrs`: further blocks associated with the VPC (as `AssociateVpcCidrBlock` would add). */
  constructor(private readonly extraCidrs: readonly string[] = []) {}

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
