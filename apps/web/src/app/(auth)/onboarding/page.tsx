import type { Metadata } from "next";
import { redirect } from "next/navigation";
import { Onboarding } from "@/components/onboarding.tsx";
import { db } from "@/server/services.ts";
import { currentSession } from "@/server/session.ts";
import { orgCreationRefusal } from "@/server/signup-policy.ts";

export const metadata: Metadata = { title: "Set up" };

export default async function OnboardingPage({ searchParams }: { searchParams: Promise<{ org?: string | string[] }> }) {
  const session = await currentSession();
  if (!session) redirect("/sign-in?next=/onboarding");
  // Set-up is for someone without an organization; anyone else has their satellites to go to
  // (another organization is created from Settings, invitations open from their link).
  if (await db().member.findFirst({ where: { userId: session.user.id }, select: { id: true } })) redirect("/satellites");
  // The name typed at sign-up when creating its organization was refused: kept, with the reason.
  const org = (await searchParams).org;
  return <Onboarding refusal={await orgCreationRefusal(session.user.id)} email={session.user.email} initialName={typeof org === "string" ? org.slice(0, 200) : ""} />;
}
