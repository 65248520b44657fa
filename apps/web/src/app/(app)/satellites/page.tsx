import type { Metadata } from "next";
import { SatellitesList } from "@/components/satellites-list.tsx";

export const metadata: Metadata = { title: "Satellites" };

export default function SatellitesPage() {
  return <SatellitesList />;
}
