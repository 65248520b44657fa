// Server-side helpers for pages: the signed-in person, their organizations, and a tRPC
// caller acting as them (the same authorization as the HTTP API).
import { headers } from "next/headers";
import { redirect } from "next/navigation";
import { strongestRole } from "./access.ts";
import { auth } from "./auth.ts";
import { createCaller } from "./routers/index.ts";
import { db } from "./services.ts";
import { createContext } from "./trpc.ts";

export async function serverCaller() {
  return createCaller(await createContext({ headers: new Headers(await headers()) }));
}

export async function currentSession() {
  // headers() first: it marks the page dynamic before anything reads runtime configuration.
  const h = await headers();
  return auth().api.getSession({ headers: h });
}

export interface ShellData {
  user: { id: string; name: string; email: string };
  orgs: { id: string; name: string; role: "owner" | "admin" | "member" }[];
  activeOrgId: string;
}

/** For app pages: signed in and a member of at least one organization, or sent where to fix that. */
export async function requireShell(next: string): Promise<ShellData> {
  const session = await currentSession();
  if (!session) redirect(`/sign-in?next=${encodeURIComponent(next)}`);
  const memberships = await db().member.findMany({ where: { userId: session.user.id }, include: { organization: { select: { id: true, name: true } } }, orderBy: { createdAt: "asc" } });
  if (memberships.length === 0) redirect("/onboarding");
  const orgs = memberships.map((m) => ({ id: m.organization.id, name: m.organization.name, role: strongestRole(m.role) ?? "member" }));
  const active = (session.session as { activeOrganizationId?: string | null }).activeOrganizationId;
  const activeOrgId = orgs.some((o) => o.id === active) ? active! : orgs[0]!.id;
  return { user: { id: session.user.id, name: session.user.name, email: session.user.email }, orgs, activeOrgId };
}
