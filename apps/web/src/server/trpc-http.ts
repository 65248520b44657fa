// tRPC over HTTP (src/app/api/trpc/[trpc]/route.ts): bounded bodies and batches, the
// caller's client address in the context, then tRPC's own fetch handler.
import { fetchRequestHandler } from "@trpc/server/adapters/fetch";
import { clientAddress } from "./client-address.ts";
import { checkBatchSize, readBoundedBody, RequestRefused, TRPC_BODY_MAX_BYTES, TRPC_MAX_BATCH, withBody } from "./request-limits.ts";
import { appRouter } from "./routers/index.ts";
import { createContext, logUnexpected } from "./trpc.ts";

export const TRPC_ENDPOINT = "/api/trpc";

const CODES = { 400: "BAD_REQUEST", 413: "PAYLOAD_TOO_LARGE", 429: "TOO_MANY_REQUESTS" } as const;

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
