// The tRPC core: request context (who is calling), error shape, and the procedure builders
// every router uses. Authorization is decided here and in access.ts, never in a page.
//
// Two kinds of caller:
//  - a person, through the better-auth session cookie (dashboard), and
//  - an organization API token, `Authorization: Bearer sat_…` (scripts, CI). A token acts with
//    the current role of the member who created it, in the token's organization only; it can
//    operate satellites but never manage tokens, members or organizations (a leaked token must
//    not be able to mint more tokens or invite people).
import { initTRPC, TRPCError } from "@trpc/server";
import { touchToken, verifyToken } from "@satellites/tokens";
import { ZodError } from "zod";
import { auth } from "./auth.ts";
import { clientDbError } from "./db-errors.ts";
import { type RateLimitKind, rateLimits } from "./rate-limits.ts";
import { db } from "./services.ts";

export type Principal =
  | { kind: "user"; userId: string; sessionId: string; email: string; name: string; activeOrgId: string | null }
  | { kind: "token"; tokenId: string; orgId: string; createdById: string | null };

export interface Context {
  principal: Principal | null;
  /** Why there is no principal although credentials were sent (shown instead of "sign in"). */
  authError: string | null;
  /** The incoming headers: better-auth calls made on the caller's behalf need its cookie. */
  headers: Headers;
  /** The client's address (client-address.ts) for HTTP calls; null in-process (pages, tests), which are not rate limited. */
  clientAddress: string | null;
}

/** Builds the context from request headers; used by the HTTP handler and by tests. */
export async function createContext({ headers, clientAddress = null }: { headers: Headers; clientAddress?: string | null }): Promise<Context> {
  const base = { headers, clientAddress };
  const authorization = headers.get("authorization");
  const bearer = authorization?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
  if (authorization && !bearer) return { principal: null, authError: "Authorization header must be `Bearer <token>`", ...base };
  if (bearer) {
    // Counted before the lookup, so guessing tokens is as slow as using one.
    if (clientAddress) await enforceRateLimit("tokenUse", clientAddress);
    const verified = await verifyToken(db(), bearer);
    if (!verified) return { principal: null, authError: "API token is invalid, expired or revoked", ...base };
    const row = await db().apiToken.findUnique({ where: { id: verified.tokenId }, select: { createdById: true } });
    // Best effort: last-use bookkeeping must not fail the call.
    void touchToken(db(), verified.tokenId).catch(() => {});
    return { principal: { kind: "token", tokenId: verified.tokenId, orgId: verified.orgId, createdById: row?.createdById ?? null }, authError: null, ...base };
  }
  const session = await auth().api.getSession({ headers });
  if (!session) return { principal: null, authError: null, ...base };
  const activeOrgId = (session.session as { activeOrganizationId?: string | null }).activeOrganizationId ?? null;
  return {
    principal: { kind: "user", userId: session.user.id, sessionId: session.session.id, email: session.user.email, name: session.user.name, activeOrgId },
    authError: null,
    ...base,
  };
}

/** TOO_MANY_REQUESTS (429) when `client` is over its `kind` budget. */
export async function enforceRateLimit(kind: RateLimitKind, client: string): Promise<void> {
  const decision = await rateLimits().consume(kind, client);
  if (!decision.ok) throw new TRPCError({ code: "TOO_MANY_REQUESTS", message: decision.message });
}

/** One line per invalid field, e.g. "size: must be one of xsmall, small, …". */
export function zodIssues(error: ZodError): { path: string; message: string }[] {
  return error.issues.map((i) => ({ path: i.path.map(String).join("."), message: i.message }));
}

function humanMessage(error: ZodError): string {
  return zodIssues(error)
    .map((i) => (i.path ? `${i.path}: ${i.message}` : i.message))
    .join("; ");
}

const t = initTRPC.context<Context>().create({
  // Plain JSON on the wire (no transformer), so curl and any HTTP client can call the API:
  // dates travel as ISO 8601 strings, and tRPC's types say so.
  errorFormatter({ shape, error }) {
    const issues = error.cause instanceof ZodError ? zodIssues(error.cause) : undefined;
    return {
      ...shape,
      // A zod failure's message becomes the first issue in words a person can act on; an
      // unexpected one's (a driver's, naming hosts, ports and tables) stays in the log.
      message: error.cause instanceof ZodError ? humanMessage(error.cause) : unexpected(error) ? INTERNAL_MESSAGE : shape.message,
      data: { ...shape.data, issues, stack: undefined },
    };
  },
  sse: {
    // Comments keep proxies from closing an idle stream; the client reconnects on silence.
    ping: { enabled: true, intervalMs: 15_000 },
    client: { reconnectAfterInactivityMs: 40_000 },
  },
});

const INTERNAL_MESSAGE = "Internal error: it has been logged for the operator; try again later";

/** Not one of ours: thrown by something underneath (tRPC wraps it with the cause's message). */
function unexpected(error: TRPCError): boolean {
  return error.code === "INTERNAL_SERVER_ERROR" && error.cause !== undefined && !(error.cause instanceof TRPCError);
}

/** Causes the `errors` middleware has logged: the HTTP handler logs the rest (createContext's, a stream's). */
const logged = new WeakSet<object>();

/** Logs an unexpected error that reached the HTTP handler without passing the middleware. */
export function logUnexpected(error: TRPCError, path: string | undefined): void {
  if (!unexpected(error) || logged.has(error.cause as object)) return;
  console.error(`tRPC ${path ?? "(no procedure)"} failed:`, error.cause);
}

export const router = t.router;
export const createCallerFactory = t.createCallerFactory;

/**
 * Anything not already a TRPCError is a bug or an outage: log it with the path; the error
 * formatter answers a generic 500 (never leak internals). Known user mistakes are mapped here.
 */
const errors = t.middleware(async ({ next, path }) => {
  const result = await next();
  // Input validation failures read as sentences for in-process callers too (pages, tests);
  // zod's own message is a JSON dump of its issues.
  if (!result.ok && result.error.code === "BAD_REQUEST" && result.error.cause instanceof ZodError) {
    return { ...result, error: new TRPCError({ code: "BAD_REQUEST", message: humanMessage(result.error.cause), cause: result.error.cause }) };
  }
  if (!result.ok && result.error.code === "INTERNAL_SERVER_ERROR") {
    const mapped = clientDbError(result.error.cause ?? result.error);
    if (mapped) return { ...result, error: mapped };
    console.error(`tRPC ${path} failed:`, result.error.cause ?? result.error);
    if (result.error.cause) logged.add(result.error.cause);
  }
  return result;
});

export const publicProcedure = t.procedure.use(errors);

/** A person or a token. */
export const authedProcedure = publicProcedure.use(({ ctx, next }) => {
  if (!ctx.principal) {
    throw new TRPCError({ code: "UNAUTHORIZED", message: ctx.authError ?? "Sign in, or send `Authorization: Bearer <API token>`" });
  }
  return next({ ctx: { ...ctx, principal: ctx.principal } });
});

/** A signed-in person only: account, organization, member and token management. */
export const userProcedure = authedProcedure.use(({ ctx, next }) => {
  if (ctx.principal.kind !== "user") {
    throw new TRPCError({ code: "FORBIDDEN", message: "API tokens cannot manage organizations, members or tokens; sign in to the dashboard" });
  }
  return next({ ctx: { ...ctx, principal: ctx.principal } });
});

export function actorOf(p: Principal): string {
  return p.kind === "user" ? `user:${p.userId}` : `token:${p.tokenId}`;
}

/** Who is acting and from where: what every audit record carries. */
export function whoOf(ctx: { principal: Principal; clientAddress: string | null }): { actor: string; ip: string | null } {
  return { actor: actorOf(ctx.principal), ip: ctx.clientAddress };
}
