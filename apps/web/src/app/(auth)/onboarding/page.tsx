import type { Metadata } from "next";
import { redirect } from "next/navigation";
import { Onboarding } from "@/components/onboarding.tsx";
import { db } from "@/server/services.ts";
import { currentSession } from "@/server/session.ts";

export const metadata: Metadata = { title: "Set up" };

export default async function OnboardingPage() {
  const session = await currentSession();
  if (!session) redirect("/sign-in?next=/onboarding");
  // Set-up is for someone without an organization; anyone else has their satellites to go to
  // (another organization is created from Settings, invitations open from their link).
  if (await db().member.findFirst({ where: { userId: session.user.id }, select: { id: true } })) redirect("/satellites");
  return <Onboarding />;
}
