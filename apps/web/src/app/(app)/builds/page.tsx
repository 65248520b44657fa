import type { Metadata } from "next";
import { OrgBuilds } from "@/components/builds.tsx";

export const metadata: Metadata = { title: "Builds" };

export default function BuildsPage() {
  return <OrgBuilds />;
}
