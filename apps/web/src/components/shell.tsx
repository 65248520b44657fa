"use client";
// The frame around every signed-in page: navigation, organization switcher, account menu.
// The active organization and the caller's role in it reach pages through OrgContext.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { usePathname, useRouter } from "next/navigation";
import { createContext, type ReactNode, useContext, useEffect, useState } from "react";
import { authClient } from "@/lib/auth-client.ts";
import { errorMessage, useTRPC } from "@/lib/trpc.tsx";
import type { ShellData } from "@/server/session.ts";
import { Button, Spinner } from "./ui.tsx";

export type Role = "owner" | "admin" | "member";
interface OrgContextValue {
  orgId: string;
  orgName: string;
  role: Role;
  isAdmin: boolean;
  user: ShellData["user"];
}
const OrgContext = createContext<OrgContextValue | null>(null);

export function useOrg(): OrgContextValue {
  const v = useContext(OrgContext);
  if (!v) throw new Error("useOrg outside the app shell");
  return v;
}

const NAV = [
  { href: "/satellites", label: "Satellites" },
  { href: "/builds", label: "Builds" },
  { href: "/history", label: "History" },
  { href: "/tokens", label: "API tokens" },
  { href: "/members", label: "Members" },
  { href: "/audit", label: "Audit log" },
  { href: "/settings", label: "Settings" },
  { href: "/instance", label: "Instance" },
];

/**
 * Someone promoted (or demoted, or removed) by an admin sees it on the pages they have open:
 * their own memberships are re-read every few seconds and when the tab regains focus, and a
 * change re-renders the frame with the new role and re-reads every query (the server decides
 * what a role may do either way; this only keeps the page truthful). Role changes are rare, and
 * one small query per tab costs less than another announcement channel.
 */
function useRoleFollower(orgId: string, role: Role, enabled: boolean) {
  const trpc = useTRPC();
  const router = useRouter();
  const queryClient = useQueryClient();
  const mine = useQuery(trpc.org.list.queryOptions(undefined, { refetchInterval: 5_000, refetchOnWindowFocus: true, staleTime: 0, enabled }));
  const entry = mine.data?.find((o) => o.id === orgId);
  // undefined: not known yet; null: no longer a member (the refresh takes them elsewhere).
  const now = mine.data ? (entry ? (entry.role ?? "member") : null) : undefined;
  useEffect(() => {
    if (now === undefined || now === role) return;
    void queryClient.invalidateQueries();
    router.refresh();
  }, [now, role, queryClient, router]);
}

export function Shell({ data, children }: { data: ShellData; children: ReactNode }) {
  const router = useRouter();
  const queryClient = useQueryClient();
  const [signingOut, setSigningOut] = useState(false);
  const active = data.orgs.find((o) => o.id === data.activeOrgId) ?? data.orgs[0]!;
  useRoleFollower(active.id, active.role, !signingOut);
  const value: OrgContextValue = { orgId: active.id, orgName: active.name, role: active.role, isAdmin: active.role !== "member", user: data.user };
  const signOut = async () => {
    // The page goes first (its queries and live connection with it), so nothing asks for more
    // once the session has ended: a dropped query re-read by a page still on screen got 401
    // while the sign-in page loaded.
    setSigningOut(true);
    await queryClient.cancelQueries();
    await authClient.signOut();
    queryClient.clear();
    router.push("/sign-in");
    router.refresh();
  };

  return (
    <OrgContext.Provider value={value}>
      <div className="flex min-h-screen flex-col md:flex-row">
        <aside className="border-b border-slate-200 bg-white md:w-60 md:shrink-0 md:border-b-0 md:border-r">
          <div className="flex items-center gap-2 px-5 py-4">
            <svg aria-hidden="true" viewBox="0 0 32 32" className="size-7">
              <circle cx="16" cy="16" r="7" fill="#4f46e5" />
              <ellipse cx="16" cy="16" rx="14" ry="5" fill="none" stroke="#4f46e5" strokeWidth="2" transform="rotate(-25 16 16)" />
            </svg>
            <span className="text-base font-semibold">Satellites</span>
          </div>
          <OrgSwitcher orgs={data.orgs} active={active} />
          <MainNav />
          <Account user={data.user} signingOut={signingOut} onSignOut={signOut} />
        </aside>
        <main id="main" className="min-w-0 flex-1 px-4 py-6 md:px-8 md:py-8">
          <div className="mx-auto max-w-6xl">{signingOut ? <Spinner label="Signing out…" /> : children}</div>
        </main>
      </div>
    </OrgContext.Provider>
  );
}

/** The organization this session acts in; switching re-reads everything and opens its satellites. */
function OrgSwitcher({ orgs, active }: { orgs: ShellData["orgs"]; active: ShellData["orgs"][number] }) {
  const router = useRouter();
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const setActive = useMutation(
    trpc.org.setActive.mutationOptions({
      onSuccess: async () => {
        await queryClient.invalidateQueries();
        router.push("/satellites");
        router.refresh();
      },
    }),
  );
  return (
    <div className="px-5 pb-3">
      <label htmlFor="org-switcher" className="block text-xs font-medium text-slate-500">
        Organization
      </label>
      <select
        id="org-switcher"
        className="mt-1 block w-full rounded-md border-0 py-1.5 pl-2 pr-8 text-sm ring-1 ring-inset ring-slate-300 focus:ring-2 focus:ring-indigo-600"
        value={active.id}
        disabled={setActive.isPending}
        onChange={(e) => setActive.mutate({ orgId: e.target.value })}
      >
        {orgs.map((o) => (
          <option key={o.id} value={o.id}>
            {o.name}
          </option>
        ))}
      </select>
      <p className="mt-1 text-xs text-slate-500">Your role: {active.role}</p>
      {setActive.error && (
        <p role="alert" className="mt-1 text-xs text-red-700">
          Could not switch: {errorMessage(setActive.error)}
        </p>
      )}
    </div>
  );
}

function MainNav() {
  const pathname = usePathname();
  return (
    <nav aria-label="Main" className="px-3 pb-4">
      <ul className="flex gap-1 overflow-x-auto md:flex-col">
        {NAV.map((n) => {
          const current = pathname === n.href || pathname.startsWith(`${n.href}/`);
          return (
            <li key={n.href}>
              <Link
                href={n.href}
                aria-current={current ? "page" : undefined}
                className={`block whitespace-nowrap rounded-md px-3 py-2 text-sm font-medium ${current ? "bg-indigo-50 text-indigo-700" : "text-slate-700 hover:bg-slate-100"}`}
              >
                {n.label}
              </Link>
            </li>
          );
        })}
      </ul>
    </nav>
  );
}

/** The account and sign-out at every width: a row under the navigation on a phone. */
function Account({ user, signingOut, onSignOut }: { user: ShellData["user"]; signingOut: boolean; onSignOut: () => Promise<void> }) {
  return (
    <div className="flex items-center gap-3 border-t border-slate-200 px-5 py-3 md:block md:py-4" data-testid="account">
      <div className="min-w-0 flex-1">
        <p className="truncate text-sm font-medium text-slate-900">{user.name}</p>
        <p className="truncate text-xs text-slate-500">{user.email}</p>
      </div>
      <Button variant="secondary" className="shrink-0 md:mt-3 md:w-full" busy={signingOut} onClick={() => void onSignOut()}>
        Sign out
      </Button>
    </div>
  );
}
