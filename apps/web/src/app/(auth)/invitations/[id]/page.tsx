import type { Metadata } from "next";
import { redirect } from "next/navigation";
import { InvitationView } from "@/components/onboarding.tsx";
import { currentSession } from "@/server/session.ts";

export const metadata: Metadata = { title: "Invitation" };

export default async function InvitationPage({ params, searchParams }: { params: Promise<{ id: string }>; searchParams: Promise<{ token?: string | string[] }> }) {
  const { id } = await params;
  const t = (await searchParams).token;
  const token = typeof t === "string" && /^[A-Za-z0-9_-]{1,200}$/.test(t) ? t : null;
  // The secret rides along through sign-up/sign-in so the link still works afterwards.
  const self = `/invitations/${encodeURIComponent(id)}${token ? `?token=${token}` : ""}`;
  if (!(await currentSession())) redirect(`/sign-up?next=${encodeURIComponent(self)}`);
  return <InvitationView id={id} token={token} />;
}
