// tRPC over HTTP (src/app/api/trpc/[trpc]/route.ts): bounded bodies and batches, the
// caller's client address in the context, then tRPC's own fetch handler.
import { fetchRequestHandler } from "@trpc/server/adapters/fetch";
import { clientAddress } from "./client-address.ts";
import { checkBatchSize, readBoundedBody, RequestRefused, TRPC_BODY_MAX_BYTES, TRPC_MAX_BATCH, withBody } from "./request-limits.ts";
import { appRouter } from "./routers/index.ts";
import { createContext, logUnexpected } from "./trpc.ts";

export const TRPC_ENDPOINT = "/api/trpc";

const CODES = { 400: "BAD_REQUEST", 413: "PAYLOAD_TOO_LARGE", 415: "UNSUPPORTED_MEDIA_TYPE", 429: "TOO_MANY_REQUESTS" } as const;

/**
 * Mutations come as JSON only. tRPC also takes multipart bodies, which a form on any site can
 * post without a CORS preflight (JSON needs one): refused, so no form can stand for an API call.
 */
function requireJson(req: Request): void {
  if (req.method !== "POST") return;
  const type = req.headers.get("content-type")?.split(";")[0]?.trim().toLowerCase();
  if (type !== "application/json") throw new RequestRefused(415, `send the body as JSON, with \`content-type: application/json\` (got ${type ? `\`${type.slice(0, 100)}\`` : "none"})`, "content-type");
}

/** The shape tRPC gives its own errors, so clients read the message the same way. */
export function refusal(err: RequestRefused): Response {
  const code = CODES[err.status];
  const body = { error: { message: err.message, code: -32600, data: { code, httpStatus: err.status, issues: [{ path: err.field, message: err.message }] } } };
  return Response.json(body, { status: err.status, headers: { connection: "close" } });
}

export async function handleTrpc(req: Request): Promise<Response> {
  let bounded: Request;
  try {
    checkBatchSize(new URL(req.url), TRPC_ENDPOINT);
    requireJson(req);
    bounded = withBody(req, req.method === "POST" ? await readBoundedBody(req, TRPC_BODY_MAX_BYTES) : null);
  } catch (err) {
    if (err instanceof RequestRefused) return refusal(err);
    throw err;
  }
  const client = clientAddress(req.headers);
  return fetchRequestHandler({
    endpoint: TRPC_ENDPOINT,
    req: bounded,
    router: appRouter,
    maxBatchSize: TRPC_MAX_BATCH,
    createContext: () => createContext({ headers: req.headers, clientAddress: client }),
    onError: ({ error, path }) => logUnexpected(error, path),
  });
}
