import type { Metadata } from "next";
import { redirect } from "next/navigation";
import { Suspense } from "react";
import { SignInForm } from "@/components/auth-forms.tsx";
import { currentSession } from "@/server/session.ts";

export const metadata: Metadata = { title: "Sign in" };

export default async function SignInPage() {
  if (await currentSession()) redirect("/satellites");
  return (
    <Suspense>
      <SignInForm />
    </Suspense>
  );
}
