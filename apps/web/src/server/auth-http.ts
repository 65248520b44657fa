// better-auth's HTTP endpoints (src/app/api/auth/[...all]/route.ts) behind our limits: a
// bounded body, per-client rate limits shared across replicas, and the client address handed
// to better-auth as the one X-Forwarded-For it reads (sessions record it).
import { auth } from "./auth.ts";
import { clientAddress } from "./client-address.ts";
import { type RateLimitKind, rateLimits } from "./rate-limits.ts";
import { AUTH_BODY_MAX_BYTES, readBoundedBody, RequestRefused, withBody } from "./request-limits.ts";

/** Which POST endpoints (under /api/auth) count against which limit. */
export const AUTH_RATE_LIMITED: Record<string, RateLimitKind> = {
  "/sign-in/email": "signIn",
  "/sign-up/email": "signUp",
  "/request-password-reset": "authMail",
  "/send-verification-email": "authMail",
};

function refusal(err: RequestRefused): Response {
  const code = err.status === 413 ? "PAYLOAD_TOO_LARGE" : err.status === 429 ? "TOO_MANY_REQUESTS" : "BAD_REQUEST";
  return Response.json({ code, message: err.message, field: err.field }, { status: err.status });
}

/**
 * better-auth's organization endpoints: organizations, members and invitations are managed
 * through tRPC (org.*, member.*), with our rules and audit log; the server calls the plugin in
 * process. Over HTTP some of them told a signed-in outsider which slugs and ids exist.
 */
const ORGANIZATION_PATHS = /^\/organization\//;

export async function handleAuth(req: Request): Promise<Response> {
  const client = clientAddress(req.headers);
  const path = new URL(req.url).pathname.replace(/^\/api\/auth/, "");
  if (ORGANIZATION_PATHS.test(path)) {
    await req.body?.cancel().catch(() => {});
    return Response.json({ code: "NOT_FOUND", message: "organizations are managed through the API: org.* and member.* (docs/api.md)" }, { status: 404 });
  }
  try {
    const kind = req.method === "POST" ? AUTH_RATE_LIMITED[path] : undefined;
    if (kind) {
      const decision = await rateLimits().consume(kind, client);
      if (!decision.ok) {
        await req.body?.cancel().catch(() => {});
        return Response.json({ code: "TOO_MANY_REQUESTS", message: decision.message }, { status: 429, headers: { "retry-after": String(decision.retryAfterSeconds) } });
      }
    }
    const body = req.method === "POST" ? await readBoundedBody(req, AUTH_BODY_MAX_BYTES) : null;
    const headers = new Headers(req.headers);
    headers.set("x-forwarded-for", client);
    return await auth().handler(withBody(req, body, headers));
  } catch (err) {
    if (err instanceof RequestRefused) return refusal(err);
    throw err;
  }
}
