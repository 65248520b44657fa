import type { Metadata } from "next";
import { TRPCError } from "@trpc/server";
import { notFound } from "next/navigation";
import { SatelliteDetail } from "@/components/satellite-detail.tsx";
import { serverCaller } from "@/server/session.ts";

export const metadata: Metadata = { title: "Satellite" };

export default async function SatellitePage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  // Decided on the server with the API's own rules: another organization's satellite is a 404.
  try {
    await (await serverCaller()).satellite.get({ id });
  } catch (err) {
    if (err instanceof TRPCError && (err.code === "NOT_FOUND" || err.code === "FORBIDDEN" || err.code === "BAD_REQUEST")) notFound();
    throw err;
  }
  return <SatelliteDetail id={id} />;
}
