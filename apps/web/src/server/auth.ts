// Accounts: better-auth with email + password, sessions in Postgres through our Prisma client,
// and the organization plugin (owner/admin/member roles, invitations). The plugin's rules
// (who may invite, who may change whom) are the ones the tRPC `org` and `member` routers
// apply: they call `auth.api.*` after their own membership check, so there is one set of
// rules and one public API surface (the plugin's own HTTP mutation endpoints are switched off
// below, because some of our invariants — a removed member's API tokens are revoked — live in
// the tRPC layer).
import { config } from "@satellites/config";
import { betterAuth } from "better-auth";
import { prismaAdapter } from "better-auth/adapters/prisma";
import { APIError } from "better-auth/api";
import { organization } from "better-auth/plugins";
import { checkAuthInput } from "./auth-input.ts";
import { authLog } from "./auth-log.ts";
import { type Mail, sendMail } from "./mail.ts";
import { db } from "./services.ts";
import { claimInstanceAdmin, newOrgAllowance, signupRefusal } from "./signup-policy.ts";

/** Only for development and tests; production refuses to start without AUTH_SECRET. */
const DEV_SECRET = "satellites-development-secret-not-for-production-use";

/**
 * The plugin's endpoints that change things, off over HTTP in better-auth itself as well: every
 * /organization/ path is already refused before better-auth sees it (auth-http.ts).
 */
export const ORG_HTTP_DISABLED = [
  "/organization/create",
  "/organization/update",
  "/organization/delete",
  "/organization/invite-member",
  "/organization/accept-invitation",
  "/organization/reject-invitation",
  "/organization/cancel-invitation",
  "/organization/remove-member",
  "/organization/update-member-role",
  "/organization/leave",
];

function origins(): { baseURL: string; trusted: string[] } {
  const c = config();
  // With PUBLIC_URL the dashboard has that origin alone: a loopback one trusted besides would let
  // anyone send a victim's reset link (redirectTo) to whatever listens on the victim's own port.
  const publicUrl = c.PUBLIC_URL?.replace(/\/$/, "");
  if (publicUrl) return { baseURL: publicUrl, trusted: [publicUrl] };
  const local = [`http://localhost:${c.WEB_PORT}`, `http://127.0.0.1:${c.WEB_PORT}`];
  return { baseURL: local[0]!, trusted: local };
}

/** The dashboard's public origin, for links in mail. */
export function publicOrigin(): string {
  return origins().baseURL;
}

function createAuth() {
  const c = config();
  const { baseURL, trusted } = origins();
  return betterAuth({
    appName: "Satellites",
    baseURL,
    basePath: "/api/auth",
    trustedOrigins: trusted,
    secret: c.AUTH_SECRET ?? DEV_SECRET,
    telemetry: { enabled: false },
    // Not in transactions: better-auth's hooks read through db() (another connection), so each
    // sign-up held in a transaction would wait on a second connection, and ten at once would
    // hold the whole pool. Deleting an organization, its one multi-step write, is org.delete's own.
    database: prismaAdapter(db(), { provider: "postgresql" }),
    emailAndPassword: {
      enabled: true,
      minPasswordLength: 8,
      maxPasswordLength: 128,
      autoSignIn: true,
      // Signing in does not wait for verification (the first admin may have no mail server);
      // what needs proof of the address — accepting an invitation by email — checks it.
      requireEmailVerification: false,
      resetPasswordTokenExpiresIn: 3600,
      // A reset is what someone does after a leak: sessions opened with the old password end.
      revokeSessionsOnPasswordReset: true,
      // Nothing proves an address at sign-up, so whoever signed up with someone else's could have
      // made tokens and client certificates as the account; the reset link proves the address, and
      // its owner takes the account without them. A verified account's (its CI's) stay.
      onPasswordReset: async ({ user }) => {
        if (user.emailVerified) return;
        await db().$transaction([
          db().apiToken.updateMany({ where: { createdById: user.id, revokedAt: null }, data: { revokedAt: new Date() } }),
          db().clientCertificate.updateMany({ where: { createdById: user.id, revokedAt: null }, data: { revokedAt: new Date() } }),
          db().user.update({ where: { id: user.id }, data: { emailVerified: true } }),
        ]);
      },
      // Not awaited: an answer that waited for the mail server would take longer for a registered
      // address than for an unknown one, and so tell which addresses have accounts.
      sendResetPassword: ({ user, url }) => {
        mailInBackground({
          to: user.email,
          subject: "Reset your Satellites password",
          text: `Someone (hopefully you) asked to reset the password of ${user.email}.\n\nChoose a new password: ${url}\n\nThe link works once, for one hour. If you did not ask, ignore this mail.\n`,
        });
        return Promise.resolve();
      },
    },
    emailVerification: {
      sendOnSignUp: true,
      // The link verifies and signs no one in: better-auth's auto sign-in would hand whoever opens
      // it the link owner's session — a login CSRF, an attacker's own link sent to a victim.
      autoSignInAfterVerification: false,
      expiresIn: 24 * 3600,
      sendVerificationEmail: ({ user, url }) => {
        mailInBackground({
          to: user.email,
          subject: "Verify your email for Satellites",
          text: `Confirm that ${user.email} is yours: ${url}\n\nThe link works for 24 hours. Invitations sent to this address can be accepted once it is verified.\n`,
        });
        return Promise.resolve();
      },
    },
    databaseHooks: {
      user: {
        create: {
          before: async (user) => {
            const refusal = await signupRefusal(user.email);
            if (refusal) throw new APIError("FORBIDDEN", { message: refusal });
          },
          after: async (user) => {
            await claimInstanceAdmin(user.id);
          },
        },
      },
    },
    session: { expiresIn: 60 * 60 * 24 * 30, updateAge: 60 * 60 * 24 },
    disabledPaths: ORG_HTTP_DISABLED,
    hooks: { before: checkAuthInput },
    logger: { log: authLog },
    // auth-http.ts replaces X-Forwarded-For with the client address it worked out from
    // TRUSTED_PROXIES, so sessions (and better-auth's own limiter) see the real client.
    // Origins and redirect targets are checked in tests as in production (better-auth skips the
    // check when it sees a test runner, which would leave every test of it passing vacuously).
    advanced: { ipAddress: { ipAddressHeaders: ["x-forwarded-for"] }, disableOriginCheck: false },
    // Per client IP, in production, per replica. Sign-in and sign-up are also limited across
    // replicas in auth-http.ts (rate-limits.ts). better-auth's own default for sign-in
    // (3 per 10 s) trips over a team sharing one NAT address.
    rateLimit: {
      enabled: c.NODE_ENV === "production",
      window: 60,
      max: 300,
      customRules: { "/sign-in/email": { window: 60, max: 20 }, "/sign-up/email": { window: 60, max: 20 } },
    },
    plugins: [organizationPlugin()],
  });
}

/** Organizations: owner/admin/member roles and the rules of who may change whom. */
function organizationPlugin() {
  return organization({
    creatorRole: "owner",
    // The quota columns, so a new organization can be created with its starting quota.
    schema: {
      organization: {
        additionalFields: {
          quotaSatellites: { type: "number", required: false, input: false },
          quotaVcpu: { type: "number", required: false, input: false },
          quotaLargestSize: { type: "string", required: false, input: false },
        },
      },
    },
    organizationLimit: async (user) => (await newOrgAllowance(user.id)).limitReached !== null,
    invitationExpiresIn: 7 * 24 * 3600,
    // Invitations are created and accepted in invitations.ts (link secret, one pending per
    // address, proof of the address); the plugin keeps cancel, reject and the rules.
    cancelPendingInvitationsOnReInvite: false,
    organizationHooks: {
      // A removed member's tokens would otherwise keep working for builds.
      afterRemoveMember: async ({ member }) => {
        await db().apiToken.updateMany({
          where: { orgId: member.organizationId, createdById: member.userId, revokedAt: null },
          data: { revokedAt: new Date() },
        });
      },
      // Created with the operator's starting quota, in the same insert (never a moment without).
      beforeCreateOrganization: async ({ organization: org, user }) => {
        const { quota } = await newOrgAllowance(user.id);
        return { data: { ...org, ...quota } };
      },
    },
  });
}

export type Auth = ReturnType<typeof createAuth>;

const g = globalThis as typeof globalThis & { __satellitesAuth?: Auth };
/** Lazy for the same reason as the database: `next build` must not read runtime config. */
export function auth(): Auth {
  g.__satellitesAuth ??= createAuth();
  return g.__satellitesAuth;
}

/** Why an organization cannot be deleted yet, or null: satellites that are not deleted. */
export async function liveSatellitesRefusal(orgId: string): Promise<string | null> {
  const live = await db().satellite.count({ where: { orgId, state: { not: "deleted" } } });
  return live > 0 ? `Delete the organization's ${live} satellite${live === 1 ? "" : "s"} first.` : null;
}

/**
 * Sends a mail better-auth asked for without holding its answer; a mail past the address's daily
 * budget, or one the mail server refused, is logged (the requester is told nothing either way).
 */
function mailInBackground(mail: Mail): void {
  sendMail(mail, "account").then(
    (sent) => {
      if ("limited" in sent) authLog("warn", `mail to an address not sent: ${sent.limited}`);
    },
    (err: unknown) => authLog("error", `mail could not be sent: ${err instanceof Error ? err.message : String(err)}`),
  );
}
