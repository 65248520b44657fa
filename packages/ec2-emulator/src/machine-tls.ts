// The one part of a Satellites user-data the emulated machine acts on: the TLS files its
// script installs under /etc/buildkit/tls (as cloud-init would run it), written to a private
// directory per instance so the machine's program can serve mutual TLS with them.
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { MachineTlsFiles } from "./processes.ts";

const FILE = /put "\$root\/etc\/buildkit\/tls\/(ca|cert|key)\.pem" \d+ <<'SATELLITE_EOF'\n([\s\S]*?)SATELLITE_EOF/g;

let base: string | undefined;

/** The PEM files in base64 user-data, or null when it carries none. */
export function tlsFromUserData(userDataBase64: string | null): { ca: string; cert: string; key: string } | null {
  if (!userDataBase64) return null;
  const text = Buffer.from(userDataBase64, "base64").toString("utf8");
  const found: Record<string, string> = {};
  for (const m of text.matchAll(FILE)) found[m[1]!] = m[2]!;
  return found.ca && found.cert && found.key ? { ca: found.ca, cert: found.cert, key: found.key } : null;
}

/** Writes the instance's TLS files (fresh at every start, as the user-data script does). */
export function writeMachineTls(instanceId: string, userDataBase64: string | null): MachineTlsFiles | undefined {
  const tls = tlsFromUserData(userDataBase64);
  if (!tls) return undefined;
  base ??= mkdtempSync(join(tmpdir(), "ec2-emulator-tls-"));
  const dir = join(base, instanceId);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const files = { ca: join(dir, "ca.pem"), cert: join(dir, "cert.pem"), key: join(dir, "key.pem") };
  writeFileSync(files.ca, tls.ca);
  writeFileSync(files.cert, tls.cert);
  writeFileSync(files.key, tls.key, { mode: 0o600 });
  return files;
}
