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

interface Collected {
  forward: string[];
  names?: string[];
  orgs?: string[];
  tokens?: string[];
  auths?: string[];
  timeout?: string;
}

function collect(rawHeaders: readonly string[]): Collected {
  // The satellite is reached over cleartext HTTP/2 whatever the client used.
  const c: Collected = { forward: [":scheme", "http"] };
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    // HTTP/2 header names are lowercase on the wire (nghttp2 refuses anything else); compared
    // case-insensitively all the same, so no spelling of ours ever reaches a satellite.
    const key = rawHeaders[i]!.toLowerCase();
    const value = rawHeaders[i + 1]!;
    if (DROP.has(key)) {
      if (key === "satellite_name") (c.names ??= []).push(value);
      else if (key === "satellite_org") (c.orgs ??= []).push(value);
      else if (key === "satellite_token") (c.tokens ??= []).push(value);
      // Only a bearer is ours; another scheme (an intermediary's Basic) is dropped, not refused.
      else if (key === "authorization" && /^bearer\s/i.test(value)) (c.auths ??= []).push(value);
      else if (key === "grpc-timeout") c.timeout = value;
      continue;
    }
    c.forward.push(key, value);
  }
  return c;
}

function deadline(c: Collected): number | undefined {
  const timeoutMs = parseGrpcTimeout(c.timeout);
  // Not ours to judge: a value we cannot read goes upstream untouched, for the satellite to refuse.
  if (c.timeout !== undefined && timeoutMs === undefined) c.forward.push("grpc-timeout", c.timeout);
  return timeoutMs;
}

export function readCallMetadata(rawHeaders: readonly string[]): CallMetadata {
  const c = collect(rawHeaders);
  // Nothing of ours at all: a client with no credentials (e.g. a certificate its client did not
  // send because another CA issued it), not a malformed request.
  if (!c.names && !c.orgs && !c.tokens && !c.auths) {
    throw new GrpcError(Status.UNAUTHENTICATED, "no credentials: present the client certificate issued for your satellite (docs/clients.md), or send satellite_name, satellite_org and satellite_token");
  }
  const name = field(c.names, "satellite_name", MAX_NAME);
  if (name === undefined) throw new GrpcError(Status.INVALID_ARGUMENT, "missing metadata satellite_name (the satellite to use)");
  const org = field(c.orgs, "satellite_org", MAX_ORG);
  if (org === undefined) throw new GrpcError(Status.INVALID_ARGUMENT, "missing metadata satellite_org (your organization id)");

  let token = asToken(c.tokens, "satellite_token");
  // The scheme's space becomes "_" so the printable check applies to the whole value.
  const auth = asToken(c.auths?.map((a) => a.replace(/^bearer\s+/i, "Bearer_")), "authorization");
  const bearer = auth?.slice(7);
  if (token !== undefined && bearer !== undefined && token !== bearer) {
    throw new GrpcError(Status.INVALID_ARGUMENT, "satellite_token and authorization name different tokens; send one");
  }
  token ??= bearer;
  if (token === undefined) throw new GrpcError(Status.UNAUTHENTICATED, "missing metadata satellite_token (or authorization: Bearer <token>)");
  return { name, org, token, timeoutMs: deadline(c), forward: c.forward };
}

/**
 * A call on a connection that presented a client certificate: the certificate alone names the
 * satellite. Satellite metadata is optional and, when sent, must name that same satellite —
 * metadata never switches a certificate to another one; tokens are dropped, never forwarded.
 */
export function readCertificateCall(rawHeaders: readonly string[], satellite: { orgId: string; name: string }): CallMetadata {
  const c = collect(rawHeaders);
  const name = field(c.names, "satellite_name", MAX_NAME);
  const org = field(c.orgs, "satellite_org", MAX_ORG);
  if ((name !== undefined && name !== satellite.name) || (org !== undefined && org !== satellite.orgId)) {
    throw new GrpcError(Status.PERMISSION_DENIED, `this connection's client certificate is for satellite "${satellite.name}" only; it cannot reach another satellite`);
  }
  return { name: satellite.name, org: satellite.orgId, token: "", timeoutMs: deadline(c), forward: c.forward };
}
