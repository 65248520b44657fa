import type { Metadata } from "next";
import { redirect } from "next/navigation";
import { InvitationView } from "@/components/onboarding.tsx";
import { currentSession } from "@/server/session.ts";

export const metadata: Metadata = { title: "Invitation" };

export default async function InvitationPage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  if (!(await currentSession())) redirect(`/sign-up?next=${encodeURIComponent(`/invitations/${id}`)}`);
  return <InvitationView id={id} />;
}
