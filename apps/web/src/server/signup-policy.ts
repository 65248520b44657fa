// Who may create an account (SIGNUP_POLICY): anyone, only an address with a pending
// invitation, or only addresses in SIGNUP_DOMAINS. The very first account is always allowed —
// someone has to run the instance — and becomes the instance admin.
import { config } from "@satellites/config";
import { db } from "./services.ts";

/** Why this email may not sign up, or null when it may. */
export async function signupRefusal(email: string): Promise<string | null> {
  const c = config();
  if (c.SIGNUP_POLICY === "open") return null;
  if ((await db().user.count({ take: 1 })) === 0) return null;
  const address = email.trim().toLowerCase();
  if (c.SIGNUP_POLICY === "domains") {
    const domain = address.slice(address.lastIndexOf("@") + 1);
    if (c.SIGNUP_DOMAINS.includes(domain)) return null;
    return `Sign-up is limited to addresses at ${c.SIGNUP_DOMAINS.join(", ")}`;
  }
  const invited = await db().invitation.count({ where: { email: { equals: address, mode: "insensitive" }, status: "pending", expiresAt: { gt: new Date() } } });
  return invited > 0 ? null : "Sign-up is by invitation only: ask an organization admin to invite this address";
}

/**
 * Why this account may not create an organization yet, or null. Under SIGNUP_POLICY=domains the
 * address's domain is the only credential, so it counts once the address is proven (verified);
 * otherwise anyone could type an allowed address and run satellites on the operator's account.
 */
export async function orgCreationRefusal(userId: string): Promise<string | null> {
  if (config().SIGNUP_POLICY !== "domains") return null;
  const u = await db().user.findUnique({ where: { id: userId }, select: { emailVerified: true, instanceAdmin: true } });
  if (u?.emailVerified || u?.instanceAdmin) return null;
  return "Verify your email address first (follow the link in the mail we sent) before creating an organization";
}

/**
 * What a new organization of this person's starts with (NEW_ORG_QUOTA_*), and whether they are
 * already in ORGS_PER_USER organizations. The instance admin is bound by neither.
 */
export async function newOrgAllowance(userId: string): Promise<{ limitReached: string | null; quota: { quotaSatellites?: number; quotaVcpu?: number; quotaLargestSize?: string } }> {
  const c = config();
  const held = await orgsHeld(userId);
  if (held === "admin") return { limitReached: null, quota: {} };
  const limitReached = held !== null && held >= c.ORGS_PER_USER! ? orgCapRefusal(held) : null;
  return { limitReached, quota: { quotaSatellites: c.NEW_ORG_QUOTA_SATELLITES, quotaVcpu: c.NEW_ORG_QUOTA_VCPU, quotaLargestSize: c.NEW_ORG_QUOTA_LARGEST_SIZE } };
}

/** How many organizations the person is in, when ORGS_PER_USER applies to them (null: no cap; "admin": the instance admin). */
async function orgsHeld(userId: string): Promise<number | null | "admin"> {
  const u = await db().user.findUnique({ where: { id: userId }, select: { instanceAdmin: true } });
  if (u?.instanceAdmin) return "admin";
  return config().ORGS_PER_USER === undefined ? null : db().member.count({ where: { userId } });
}

export function orgCapRefusal(inOrgs: number): string {
  return `You are already in ${inOrgs} organizations, the most this instance allows before creating another (ORGS_PER_USER); leave one, or ask the instance admin`;
}

/**
 * Whether this person is now in more organizations than ORGS_PER_USER allows (the instance
 * admin never is): asked again once a new one exists, since creates at once all pass the count
 * made before them.
 */
export async function overOrgCap(userId: string): Promise<boolean> {
  const held = await orgsHeld(userId);
  return typeof held === "number" && held > config().ORGS_PER_USER!;
}

/** The first account runs the instance. Serialized so two first sign-ups cannot both win. */
export async function claimInstanceAdmin(userId: string): Promise<boolean> {
  return db().$transaction(async (tx) => {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext('satellites:instance-admin'))`;
    // Only the earliest account, and only while there is no admin: a later sign-up never
    // inherits the role (not even after the admin's account is deleted).
    const n = await tx.$executeRaw`UPDATE "user" u SET "instanceAdmin" = true
      WHERE u.id = ${userId}
        AND NOT EXISTS (SELECT 1 FROM "user" WHERE "instanceAdmin")
        AND NOT EXISTS (SELECT 1 FROM "user" o WHERE o.id <> u.id AND (o."createdAt", o.id) < (u."createdAt", u.id))`;
    return n > 0;
  });
}
