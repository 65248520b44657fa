// The Earthly-compatible REST endpoints (/api/v0/*) authenticate with API tokens: each request
// counts against the client's token-use budget (as tRPC bearer calls do), and a body is
// bounded before it is read. Errors in those endpoints' own shape, `{"message": …}`.
import { clientAddress } from "./client-address.ts";
import { rateLimits } from "./rate-limits.ts";
import { AUTH_BODY_MAX_BYTES, readBoundedBody, RequestRefused, withBody } from "./request-limits.ts";

type Handler<C> = (req: Request, ctx: C) => Promise<Response>;

export function tokenApiGuard<C>(handler: Handler<C>): Handler<C> {
  return async (req, ctx) => {
    const decision = await rateLimits().consume("tokenUse", clientAddress(req.headers));
    if (!decision.ok) {
      await req.body?.cancel().catch(() => {});
      return Response.json({ message: decision.message }, { status: 429, headers: { "retry-after": String(decision.retryAfterSeconds) } });
    }
    try {
      const body = req.body ? await readBoundedBody(req, AUTH_BODY_MAX_BYTES) : null;
      return await handler(withBody(req, body), ctx);
    } catch (err) {
      if (err instanceof RequestRefused) return Response.json({ message: err.message }, { status: err.status });
      throw err;
    }
  };
}
