// Bounded requests: a body is refused before it is buffered (its Content-Length, or the bytes
// counted as they stream in), and a tRPC batch is refused past its size. The figures are in
// docs/security.md.

/** better-auth's JSON bodies: email, password, name and a few flags. */
export const AUTH_BODY_MAX_BYTES = 16 * 1024;
/** tRPC mutation bodies: the largest real input (a batch of satellite updates) is a few KiB. */
export const TRPC_BODY_MAX_BYTES = 256 * 1024;
/** Calls in one tRPC batch (the dashboard's batch link sends at most this many). */
export const TRPC_MAX_BATCH = 50;

export class RequestRefused extends Error {
  constructor(
    readonly status: 400 | 413 | 415 | 429,
    message: string,
    readonly field: string,
  ) {
    super(message);
  }
}

const KiB = (n: number) => `${Math.round(n / 1024)} KiB`;

/**
 * The body of `req`, at most `max` bytes, or RequestRefused(413). Stops reading (and cancels
 * the stream) as soon as the count passes `max`, so a 100 MB upload costs at most `max` bytes.
 */
export async function readBoundedBody(req: Request, max: number): Promise<Uint8Array<ArrayBuffer>> {
  const tooLarge = () => new RequestRefused(413, `body: the request body must be at most ${KiB(max)}`, "body");
  const declared = req.headers.get("content-length");
  if (declared !== null && (!/^\d+$/.test(declared) || Number(declared) > max)) {
    await req.body?.cancel().catch(() => {});
    if (!/^\d+$/.test(declared)) throw new RequestRefused(400, "content-length: must be a number of bytes", "content-length");
    throw tooLarge();
  }
  if (!req.body) return new Uint8Array(0);
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => {});
      throw tooLarge();
    }
    chunks.push(value);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/** A copy of `req` with its (already read) body and replaced headers. */
export function withBody(req: Request, body: Uint8Array<ArrayBuffer> | null, headers: Headers = req.headers): Request {
  const hasBody = body !== null && req.method !== "GET" && req.method !== "HEAD";
  return new Request(req.url, { method: req.method, headers, body: hasBody ? body : undefined, signal: req.signal });
}

/** tRPC puts a batch's procedures in the path, comma-separated: `/api/trpc/a,b,c?batch=1`. */
export function checkBatchSize(url: URL, endpoint: string): void {
  if (url.searchParams.get("batch") !== "1") return;
  const calls = url.pathname.slice(endpoint.length + 1).split(",").length;
  if (calls > TRPC_MAX_BATCH) throw new RequestRefused(413, `batch: at most ${TRPC_MAX_BATCH} calls per request (got ${calls})`, "batch");
}
