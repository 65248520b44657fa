// docker buildx (the standalone peer binary) with the remote driver, as the Connect card sets it
// up: a builder per address with the client certificate as driver options, and a build that
// exports to a local folder. Its state stays in a BUILDX_CONFIG folder of the bench's own.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { TlsFiles } from "./build-world.ts";

const run = promisify(execFile);

export interface Buildx {
  /** Creates a remote-driver builder named `name` for tcp://`address` with these certificates. */
  create(name: string, address: string, tls: TlsFiles): Promise<void>;
  /** Builds `context` (its own Dockerfile) with builder `name` into `output`. */
  build(name: string, context: string, output: string): Promise<void>;
}

export function buildx(bin: string, configDir: string): Buildx {
  const env = { ...process.env, BUILDX_CONFIG: configDir };
  return {
    async create(name, address, tls) {
      await run(bin, ["create", "--name", name, "--driver", "remote", "--driver-opt", `cacert=${tls.ca},cert=${tls.cert},key=${tls.key}`, `tcp://${address}`], { env });
    },
    async build(name, context, output) {
      await run(bin, ["--builder", name, "build", "--progress", "plain", "--output", `type=local,dest=${output}`, context], { env, maxBuffer: 64 << 20 });
    },
  };
}
