// What a tenant's client certificate says about its holder: one URI subject alternative name
// naming the organization and the satellite. The CA writes it; the client cannot choose it (the
// CN is free text and never read). The proxy reads it from the verified peer certificate.

const PREFIX = "spiffe://satellites.internal/org/";
const ID = "[A-Za-z0-9][A-Za-z0-9_-]{0,127}";
const URI_RE = new RegExp(`^spiffe://satellites\\.internal/org/(${ID})/satellite/(${ID})$`);

export interface CertificateSubject {
  orgId: string;
  satelliteId: string;
}

export function subjectUri(s: CertificateSubject): string {
  const uri = `${PREFIX}${s.orgId}/satellite/${s.satelliteId}`;
  if (!URI_RE.test(uri)) throw new RangeError(`organization or satellite id is not a plain id: ${JSON.stringify(s)}`);
  return uri;
}

export function parseSubjectUri(uri: string): CertificateSubject | null {
  const m = URI_RE.exec(uri);
  return m ? { orgId: m[1]!, satelliteId: m[2]! } : null;
}

/**
 * The subject from node's `subjectaltname` string ("URI:spiffe://…, DNS:…"): exactly one of our
 * URIs, else null. node quotes entries holding separators, so a crafted name cannot split into two.
 */
export function subjectFromAltNames(subjectaltname: string | undefined): CertificateSubject | null {
  if (!subjectaltname) return null;
  const found = subjectaltname
    .split(", ")
    .filter((e) => e.startsWith("URI:"))
    .map((e) => parseSubjectUri(e.slice(4)))
    .filter((s): s is CertificateSubject => s !== null);
  return found.length === 1 ? found[0]! : null;
}
