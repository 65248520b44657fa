"use client";
// Sign-in and sign-up. Sign-up also creates the person's first organization (or, when they
// arrive through an invitation link, goes back to it to accept instead).
import { useMutation } from "@tanstack/react-query";
import Link from "next/link";
import { useRouter, useSearchParams } from "next/navigation";
import { type FormEvent, useState } from "react";
import { authClient } from "@/lib/auth-client.ts";
import { safeNext } from "@/lib/safe-next.ts";
import { useTRPC } from "@/lib/trpc.tsx";
import { Alert, Button, Field, Input } from "./ui.tsx";
import { emailAddress, FIELD_LIMITS, fieldError, orgName, password, personName } from "@/lib/fields.ts";


export function AuthCard({ title, subtitle, children }: { title: string; subtitle?: React.ReactNode; children: React.ReactNode }) {
  return (
    <main id="main" className="flex min-h-screen items-center justify-center px-4 py-12">
      <div className="w-full max-w-sm">
        <div className="mb-6 flex items-center justify-center gap-2">
          <svg aria-hidden="true" viewBox="0 0 32 32" className="size-8">
            <circle cx="16" cy="16" r="7" fill="#4f46e5" />
            <ellipse cx="16" cy="16" rx="14" ry="5" fill="none" stroke="#4f46e5" strokeWidth="2" transform="rotate(-25 16 16)" />
          </svg>
          <span className="text-lg font-semibold">Satellites</span>
        </div>
        <div className="rounded-lg bg-white p-6 shadow-sm ring-1 ring-slate-200">
          <h1 className="text-lg font-semibold text-slate-900">{title}</h1>
          {subtitle && <div className="mt-1 text-sm text-slate-600">{subtitle}</div>}
          <div className="mt-5">{children}</div>
        </div>
      </div>
    </main>
  );
}

export function SignInForm() {
  const router = useRouter();
  const params = useSearchParams();
  const next = safeNext(params.get("next"));
  // Sent here by a password reset that worked.
  const reset = params.get("reset") === "1";
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    setBusy(true);
    setError(null);
    const { error } = await authClient.signIn.email({ email: String(f.get("email")), password: String(f.get("password")) });
    if (error) {
      setBusy(false);
      setError(error.status === 401 ? "Wrong email or password" : (error.message ?? "Could not sign in"));
      return;
    }
    router.push(next);
    router.refresh();
  }

  return (
    <AuthCard
      title="Sign in"
      subtitle={
        <>
          No account yet?{" "}
          <Link className="font-medium text-indigo-700 hover:underline" href={`/sign-up${next !== "/" ? `?next=${encodeURIComponent(next)}` : ""}`}>
            Create one
          </Link>
        </>
      }
    >
      <form onSubmit={submit} className="space-y-4" noValidate={false}>
        {error && <Alert>{error}</Alert>}
        {reset && !error && <Alert tone="green">Your password was changed: sign in with the new one.</Alert>}
        <Field label="Email">{(p) => <Input id={p.id} name="email" type="email" autoComplete="email" required aria-describedby={p.describedBy} />}</Field>
        <Field label="Password">{(p) => <Input id={p.id} name="password" type="password" autoComplete="current-password" required aria-describedby={p.describedBy} />}</Field>
        <Button type="submit" className="w-full" busy={busy}>
          Sign in
        </Button>
        <p className="text-sm">
          <Link className="font-medium text-indigo-700 hover:underline" href="/forgot-password">
            Forgot your password?
          </Link>
        </p>
      </form>
    </AuthCard>
  );
}

export function SignUpForm() {
  const router = useRouter();
  const params = useSearchParams();
  const next = safeNext(params.get("next"));
  const viaInvitation = next.startsWith("/invitations/");
  const trpc = useTRPC();
  const createOrg = useMutation(trpc.org.create.mutationOptions());
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const name = String(f.get("name")).trim();
    const email = String(f.get("email")).trim();
    const pw = String(f.get("password"));
    const org = String(f.get("org") ?? "").trim();
    // The server's own field rules (src/lib/fields.ts), so the form says what the API would.
    const checks = { name: fieldError(personName, name), email: fieldError(emailAddress, email), password: fieldError(password, pw), org: viaInvitation ? null : fieldError(orgName, org) };
    const errs = Object.fromEntries(Object.entries(checks).filter((e): e is [string, string] => e[1] !== null));
    setErrors(errs);
    if (Object.keys(errs).length) {
      // The first field in error takes the focus once rendered: its description (the error) is
      // read out, where an error appearing elsewhere on the page would go unheard.
      const form = e.currentTarget;
      requestAnimationFrame(() => form.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus());
      return;
    }
    setBusy(true);
    const { error } = await authClient.signUp.email({ name, email, password: pw });
    if (error) {
      setBusy(false);
      if (error.code === "USER_ALREADY_EXISTS" || error.status === 422) setErrors({ exists: "yes" });
      else setErrors({ form: error.message ?? "Could not create the account" });
      return;
    }
    if (!viaInvitation) {
      try {
        await createOrg.mutateAsync({ name: org });
      } catch {
        // The account exists; onboarding says why the organization was refused (e.g. verify the
        // address first) and keeps the name typed, to try again.
        router.push(`/onboarding?org=${encodeURIComponent(org)}`);
        return;
      }
    }
    router.push(next);
    router.refresh();
  }

  return (
    <AuthCard
      title="Create your account"
      subtitle={
        <>
          Already have one?{" "}
          <Link className="font-medium text-indigo-700 hover:underline" href={`/sign-in${next !== "/" ? `?next=${encodeURIComponent(next)}` : ""}`}>
            Sign in
          </Link>
        </>
      }
    >
      <form onSubmit={submit} className="space-y-4">
        {errors.form && <Alert>{errors.form}</Alert>}
        {errors.exists && (
          <Alert>
            An account with this email already exists;{" "}
            <Link className="font-semibold underline" href={`/sign-in${next !== "/" ? `?next=${encodeURIComponent(next)}` : ""}`}>
              sign in instead
            </Link>
            .
          </Alert>
        )}
        <Field label="Your name" error={errors.name}>
          {(p) => <Input id={p.id} name="name" autoComplete="name" required aria-invalid={p.invalid} aria-describedby={p.describedBy} />}
        </Field>
        <Field label="Email" error={errors.email}>
          {(p) => <Input id={p.id} name="email" type="email" autoComplete="email" required aria-invalid={p.invalid} aria-describedby={p.describedBy} />}
        </Field>
        <Field label="Password" hint={`At least ${FIELD_LIMITS.password.min} characters`} error={errors.password}>
          {(p) => <Input id={p.id} name="password" type="password" autoComplete="new-password" required minLength={FIELD_LIMITS.password.min} aria-invalid={p.invalid} aria-describedby={p.describedBy} />}
        </Field>
        {!viaInvitation && (
          <Field label="Organization name" hint="Your team; you can invite others later" error={errors.org}>
            {(p) => <Input id={p.id} name="org" required aria-invalid={p.invalid} aria-describedby={p.describedBy} placeholder="Acme builds" />}
          </Field>
        )}
        <Button type="submit" className="w-full" busy={busy}>
          Create account
        </Button>
      </form>
    </AuthCard>
  );
}
