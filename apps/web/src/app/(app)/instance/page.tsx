import type { Metadata } from "next";
import { InstanceAdmin } from "@/components/instance-admin.tsx";

export const metadata: Metadata = { title: "Instance" };

export default function InstancePage() {
  return <InstanceAdmin />;
}
