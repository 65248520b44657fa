// Where the CA comes from: an operator's files (production), or one generated on first start
// under the data directory (the embedded default), shared by every process on the host.
import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { CertificateAuthority } from "./authority.ts";

export const CA_CERT_FILE = "ca.pem";
export const CA_KEY_FILE = "ca-key.pem";

export interface CaSource {
  /** Operator-supplied PEM files; both or neither. */
  certFile?: string;
  keyFile?: string;
  /** Where the embedded default CA lives (generated when missing). */
  dir: string;
}

async function readOptional(file: string): Promise<string | null> {
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
}

/**
 * The embedded CA under `dir`, created on first use. Several processes may start at once: each
 * writes a complete candidate into a private folder and renames it into place; a rename onto a
 * CA another process already placed fails, and that one is used.
 */
export async function loadOrCreateCa(dir: string): Promise<CertificateAuthority> {
  const existing = await readPair(dir);
  if (existing) return existing;
  await mkdir(dirname(dir), { recursive: true });
  const temp = `${dir}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  const { ca, keyPem } = await CertificateAuthority.create();
  await mkdir(temp, { mode: 0o700 });
  try {
    await writeFile(join(temp, CA_KEY_FILE), keyPem, { mode: 0o600 });
    await writeFile(join(temp, CA_CERT_FILE), ca.certPem);
    await chmod(temp, 0o700);
    // rename(2) replaces an empty directory but never a populated one.
    await rename(temp, dir).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code !== "ENOTEMPTY" && err.code !== "EEXIST") throw err;
    });
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
  const placed = await readPair(dir);
  if (!placed) throw new Error(`CA directory ${dir} exists but holds no ${CA_CERT_FILE} and ${CA_KEY_FILE}`);
  return placed;
}

async function readPair(dir: string): Promise<CertificateAuthority | null> {
  const [certPem, keyPem] = await Promise.all([readOptional(join(dir, CA_CERT_FILE)), readOptional(join(dir, CA_KEY_FILE))]);
  if (certPem === null && keyPem === null) return null;
  if (certPem === null || keyPem === null) throw new Error(`CA directory ${dir} holds only one of ${CA_CERT_FILE} and ${CA_KEY_FILE}`);
  return CertificateAuthority.fromPem(certPem, keyPem);
}

/** The operator's CA when configured, else the embedded one. */
export async function loadCa(source: CaSource): Promise<CertificateAuthority> {
  if (source.certFile && source.keyFile) {
    const [certPem, keyPem] = await Promise.all([readFile(source.certFile, "utf8"), readFile(source.keyFile, "utf8")]);
    return CertificateAuthority.fromPem(certPem, keyPem);
  }
  return loadOrCreateCa(source.dir);
}
