"use client";
// Forgotten password: ask for a reset mail, then choose a new password from its link
// (better-auth's own flow: request-password-reset → mailed link → /reset-password?token=…).
import Link from "next/link";
import { useRouter, useSearchParams } from "next/navigation";
import { type FormEvent, useState } from "react";
import { authClient } from "@/lib/auth-client.ts";
import { emailAddress, FIELD_LIMITS, fieldError, password as passwordRule } from "@/lib/fields.ts";
import { AuthCard } from "./auth-forms.tsx";
import { Alert, Button, Field, Input } from "./ui.tsx";

export function ForgotPasswordForm() {
  const [sent, setSent] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const email = String(new FormData(e.currentTarget).get("email")).trim();
    const invalid = fieldError(emailAddress, email);
    if (invalid) return setError(invalid);
    setBusy(true);
    setError(null);
    const { error } = await authClient.requestPasswordReset({ email, redirectTo: "/reset-password" });
    setBusy(false);
    if (error) setError(error.message ?? "Could not send the mail");
    else setSent(true);
  }

  return (
    <AuthCard title="Reset your password" subtitle="We mail you a link to choose a new one.">
      {sent ? (
        <Alert tone="green">If an account uses that address, a reset link is on its way. It works once, for one hour.</Alert>
      ) : (
        <form onSubmit={submit} className="space-y-4">
          {error && <Alert>{error}</Alert>}
          <Field label="Email">{(p) => <Input id={p.id} name="email" type="email" autoComplete="email" required aria-describedby={p.describedBy} />}</Field>
          <Button type="submit" className="w-full" busy={busy}>
            Send reset link
          </Button>
        </form>
      )}
      <p className="mt-4 text-sm">
        <Link className="font-medium text-indigo-700 hover:underline" href="/sign-in">
          Back to sign in
        </Link>
      </p>
    </AuthCard>
  );
}

export function ResetPasswordForm() {
  const params = useSearchParams();
  const router = useRouter();
  const token = params.get("token");
  const [error, setError] = useState<string | null>(params.get("error") ? "This reset link is invalid or has expired; ask for a new one." : null);
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const password = String(new FormData(e.currentTarget).get("password"));
    // The server's rule, said here: no maxLength on the input, which would cut a pasted one short.
    const invalid = fieldError(passwordRule, password);
    if (invalid) return setError(invalid);
    setBusy(true);
    const { error } = await authClient.resetPassword({ newPassword: password, token: token ?? "" });
    setBusy(false);
    if (error) return setError(error.status === 400 ? "This reset link is invalid or has expired; ask for a new one." : (error.message ?? "Could not reset the password"));
    router.push("/sign-in?reset=1");
  }

  return (
    <AuthCard title="Choose a new password">
      <form onSubmit={submit} className="space-y-4">
        {error && <Alert>{error}</Alert>}
        <Field label="New password" hint={`${FIELD_LIMITS.password.min} to ${FIELD_LIMITS.password.max} characters`}>
          {(p) => <Input id={p.id} name="password" type="password" autoComplete="new-password" required minLength={FIELD_LIMITS.password.min} aria-describedby={p.describedBy} />}
        </Field>
        <Button type="submit" className="w-full" busy={busy} disabled={!token}>
          Set new password
        </Button>
      </form>
      <p className="mt-4 text-sm">
        <Link className="font-medium text-indigo-700 hover:underline" href="/forgot-password">
          Ask for a new link
        </Link>
      </p>
    </AuthCard>
  );
}
