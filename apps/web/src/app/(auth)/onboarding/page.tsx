import type { Metadata } from "next";
import { redirect } from "next/navigation";
import { Onboarding } from "@/components/onboarding.tsx";
import { currentSession } from "@/server/session.ts";

export const metadata: Metadata = { title: "Set up" };

export default async function OnboardingPage() {
  if (!(await currentSession())) redirect("/sign-in?next=/onboarding");
  return <Onboarding />;
}
