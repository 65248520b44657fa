// Runs the BuildKit Go client peer (peers/buildkit-client): a build with BuildKit's own client
// library that carries the satellite metadata on every call itself, so no forwarder sits between
// it and the proxy. Returns its timings (the last stdout line); a failed build rejects with the
// client's stderr in the message.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { requirePeer } from "./peers.ts";

const run = promisify(execFile);

export interface GoBuild {
  /** tcp://HOST:PORT of the proxy or a daemon. */
  addr: string;
  context: string;
  /** Folder holding the Dockerfile; the context by default. */
  dockerfile?: string;
  /** The local export's destination folder. */
  output: string;
  satellite?: { name: string; org: string; token: string };
  tls?: { ca: string; cert: string; key: string; serverName: string };
}

export interface GoBuildResult {
  /** Wall clock (ms since the epoch) when the build started. */
  started_unix_ms: number;
  /** From the Solve's start to the first bytes of any response (headers, message or trailers). */
  first_response_ms: number;
  total_ms: number;
}

export function goBuildArgs(b: GoBuild): string[] {
  const args = ["--addr", b.addr, "--context", b.context, "--output", b.output];
  if (b.dockerfile) args.push("--dockerfile", b.dockerfile);
  if (b.satellite) args.push("--satellite-name", b.satellite.name, "--satellite-org", b.satellite.org, "--satellite-token", b.satellite.token);
  if (b.tls) args.push("--tlscacert", b.tls.ca, "--tlscert", b.tls.cert, "--tlskey", b.tls.key, "--tlsservername", b.tls.serverName);
  return args;
}

export async function goBuild(b: GoBuild): Promise<GoBuildResult> {
  const bin = requirePeer("buildkit-client");
  try {
    const { stdout } = await run(bin, goBuildArgs(b), { maxBuffer: 64 << 20 });
    return JSON.parse(stdout.trim().split("\n").pop()!) as GoBuildResult;
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`buildkit-client failed: ${e.stderr?.slice(-2000) ?? e.message}`, { cause: err });
  }
}
