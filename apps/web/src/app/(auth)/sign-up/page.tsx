import type { Metadata } from "next";
import { redirect } from "next/navigation";
import { Suspense } from "react";
import { SignUpForm } from "@/components/auth-forms.tsx";
import { currentSession } from "@/server/session.ts";

export const metadata: Metadata = { title: "Create account" };

export default async function SignUpPage() {
  if (await currentSession()) redirect("/satellites");
  return (
    <Suspense>
      <SignUpForm />
    </Suspense>
  );
}
