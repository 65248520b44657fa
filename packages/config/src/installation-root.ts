// Where relative paths in the configuration point. The three processes start in different
// directories (`npm run -w @satellites/web` runs the dashboard from apps/web), so a relative
// SATELLITE_CA_DIR resolved against each one's working directory named two CAs: the dashboard
// issued client bundles from one, the proxy served and verified with the other, and no
// downloaded bundle worked. Every process resolves them against the installation's root instead:
// the nearest directory above the working directory whose package.json declares workspaces.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";

export function installationRoot(from = process.cwd()): string {
  // turbopackIgnore: a path known only at run time; without it the dashboard's build traces the
  // whole project into its server output (Next's "dynamic filesystem access" warning).
  for (let dir = path.resolve(/*turbopackIgnore: true*/ from); ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, "package.json");
    if (existsSync(manifest)) {
      try {
        if (Array.isArray((JSON.parse(readFileSync(manifest, "utf8")) as { workspaces?: unknown }).workspaces)) return dir;
      } catch {
        // not a manifest we can read: keep looking
      }
    }
    if (path.dirname(dir) === dir) return path.resolve(/*turbopackIgnore: true*/ from);
  }
}

/** The settings that name files or directories on this machine. */
export const PATH_SETTINGS = [
  "LOCAL_DATA_DIR",
  "SATELLITE_CA_DIR",
  "SATELLITE_CA_CERT_FILE",
  "SATELLITE_CA_KEY_FILE",
  "CLIENT_CA_DIR",
  "CLIENT_CA_CERT_FILE",
  "CLIENT_CA_KEY_FILE",
  "PROXY_TLS_CERT",
  "PROXY_TLS_KEY",
  "PROXY_TLS_CA_FILE",
] as const;

/** `config` with every relative path setting made absolute against `root`. */
export function resolvePaths<T extends Partial<Record<(typeof PATH_SETTINGS)[number], string | undefined>>>(config: T, root: string): T {
  const out = { ...config };
  for (const key of PATH_SETTINGS) {
    const v = out[key];
    if (typeof v === "string" && !path.isAbsolute(v)) (out as Record<string, unknown>)[key] = path.resolve(root, v);
  }
  return out;
}
