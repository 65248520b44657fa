// Splits a call's request headers (as raw pairs, so repeated headers stay apart) into the
// proxy's own auth metadata and the headers that go upstream. Structural problems — missing,
// empty, oversize, non-ASCII or repeated auth fields — are refused here, before any lookup.
import { GrpcError, parseGrpcTimeout, Status } from "./grpc.ts";

export interface CallMetadata {
  name: string;
  org: string;
  token: string;
  /** The caller's own deadline in ms, if it sent grpc-timeout. */
  timeoutMs: number | undefined;
  /**
   * What goes upstream, as raw pairs in the client's order (repeated names stay separate
   * fields): everything except auth, grpc-timeout and connection headers, with `:scheme` http.
   */
  forward: string[];
}

const MAX_NAME = 253;
const MAX_ORG = 128;
const MAX_TOKEN = 512;
// HTTP/2 header values may carry obs-text; ours must be plain printable ASCII.
const PRINTABLE = /^[\x21-\x7e]+$/;

// Never forwarded: ours, or connection-specific (and rejected by HTTP/2 anyway).
const DROP = new Set(["satellite_name", "satellite_org", "satellite_token", "authorization", "grpc-timeout", ":scheme", "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "host"]);

function field(values: string[] | undefined, key: string, max: number): string | undefined {
  if (!values || values.length === 0) return undefined;
  if (values.length > 1) throw new GrpcError(Status.INVALID_ARGUMENT, `metadata ${key} given ${values.length} times; send it once`);
  const v = values[0]!.trim();
  if (v === "") return undefined;
  if (v.length > max) throw new GrpcError(Status.INVALID_ARGUMENT, `metadata ${key} is too long (at most ${max} characters)`);
  if (!PRINTABLE.test(v)) throw new GrpcError(Status.INVALID_ARGUMENT, `metadata ${key} must be printable ASCII`);
  return v;
}

// Repeats are request errors; a malformed token is an authentication failure (same answer as
// a wrong one, so probing the format teaches nothing).
function asToken(values: string[] | undefined, key: string): string | undefined {
  try {
    return field(values, key, MAX_TOKEN);
  } catch (err) {
    if (values && values.length > 1) throw err;
    throw new GrpcError(Status.UNAUTHENTICATED, "invalid token");
  }
}

export function readCallMetadata(rawHeaders: readonly string[]): CallMetadata {
  // The satellite is reached over cleartext HTTP/2 whatever the client used.
  const forward: string[] = [":scheme", "http"];
  let names: string[] | undefined;
  let orgs: string[] | undefined;
  let tokens: string[] | undefined;
  let auths: string[] | undefined;
  let timeout: string | undefined;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    // HTTP/2 header names are lowercase on the wire (nghttp2 refuses anything else); compared
    // case-insensitively all the same, so no spelling of ours ever reaches a satellite.
    const key = rawHeaders[i]!.toLowerCase();
    const value = rawHeaders[i + 1]!;
    if (DROP.has(key)) {
      if (key === "satellite_name") (names ??= []).push(value);
      else if (key === "satellite_org") (orgs ??= []).push(value);
      else if (key === "satellite_token") (tokens ??= []).push(value);
      else if (key === "authorization") (auths ??= []).push(value);
      else if (key === "grpc-timeout") timeout = value;
      continue;
    }
    forward.push(key, value);
  }

  const name = field(names, "satellite_name", MAX_NAME);
  if (name === undefined) throw new GrpcError(Status.INVALID_ARGUMENT, "missing metadata satellite_name (the satellite to use)");
  const org = field(orgs, "satellite_org", MAX_ORG);
  if (org === undefined) throw new GrpcError(Status.INVALID_ARGUMENT, "missing metadata satellite_org (your organization id)");

  let token = asToken(tokens, "satellite_token");
  // The scheme's space becomes "_" so the printable check applies to the whole value.
  const auth = asToken(auths?.map((a) => a.replace(/^bearer\s+/i, "Bearer_")), "authorization");
  const bearer = auth?.startsWith("Bearer_") ? auth.slice(7) : undefined;
  if (token !== undefined && bearer !== undefined && token !== bearer) {
    throw new GrpcError(Status.INVALID_ARGUMENT, "satellite_token and authorization name different tokens; send one");
  }
  token ??= bearer;
  if (token === undefined) throw new GrpcError(Status.UNAUTHENTICATED, "missing metadata satellite_token (or authorization: Bearer <token>)");

  const timeoutMs = parseGrpcTimeout(timeout);
  // Not ours to judge: a value we cannot read goes upstream untouched, for the satellite to refuse.
  if (timeout !== undefined && timeoutMs === undefined) forward.push("grpc-timeout", timeout);
  return { name, org, token, timeoutMs, forward };
}
