// CLI: node --import tsx packages/backend/src/main.ts [--host H] [--port P] [--proto-root DIR]
//   [--tls-ca FILE --tls-cert FILE --tls-key FILE]  (mutual TLS: clients need a certificate from the CA)
//   [--worker-label KEY=VALUE ...]  (serve BuildKit's ListWorkers with one worker so labelled)
// Prints exactly "listening <host>:<port>" on stdout once serving (supervisors wait for it);
// everything else goes to stderr. SIGTERM/SIGINT shut down gracefully and exit 0.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import * as grpc from "@grpc/grpc-js";
import { startBackend, type Backend } from "./server.ts";

// A log it cannot write (a full disk under its log file, a closed pipe) is no reason to stop
// serving: without a listener the stream's error would end the process.
for (const stream of [process.stdout, process.stderr]) stream.on("error", () => undefined);

// grpc-js logs its own line when a bind fails; the error we print says the same and more,
// and the port-taken contract is a single line.
grpc.setLogger({
  error: (message: unknown, ...rest: unknown[]) => {
    if (!String(message).startsWith("No address added")) console.error(`E ${String(message)}`, ...rest);
  },
  info: (message: unknown, ...rest: unknown[]) => console.error(`I ${String(message)}`, ...rest),
  debug: (message: unknown, ...rest: unknown[]) => console.error(`D ${String(message)}`, ...rest),
});

function fail(message: string, code: number): never {
  process.stderr.write(`backend: ${message}\n`);
  process.exit(code);
}

function parsePort(raw: string | undefined): number {
  if (raw === undefined || raw === "") return 0;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`invalid port ${JSON.stringify(raw)}`, 2);
  return port;
}

let args: { host?: string; port?: string; "proto-root"?: string; "tls-ca"?: string; "tls-cert"?: string; "tls-key"?: string; "worker-label"?: string[] };
try {
  args = parseArgs({
    options: {
      host: { type: "string" },
      port: { type: "string" },
      "proto-root": { type: "string" },
      "tls-ca": { type: "string" },
      "tls-cert": { type: "string" },
      "tls-key": { type: "string" },
      "worker-label": { type: "string", multiple: true },
    },
  }).values;
} catch (err) {
  fail(err instanceof Error ? err.message : String(err), 2);
}

const host = args.host ?? process.env["HOST"] ?? "127.0.0.1";
const port = parsePort(args.port ?? process.env["PORT"]);

function readTls(): { caPem: string; certPem: string; keyPem: string } | undefined {
  const files = [args["tls-ca"], args["tls-cert"], args["tls-key"]];
  if (files.every((f) => f === undefined)) return undefined;
  const [ca, cert, key] = files;
  if (ca === undefined || cert === undefined || key === undefined) fail("--tls-ca, --tls-cert and --tls-key go together", 2);
  try {
    return { caPem: readFileSync(ca, "utf8"), certPem: readFileSync(cert, "utf8"), keyPem: readFileSync(key, "utf8") };
  } catch (err) {
    fail(`cannot read TLS files: ${err instanceof Error ? err.message : String(err)}`, 2);
  }
}
const tls = readTls();

function readWorkerLabels(): Record<string, string> | undefined {
  const given = args["worker-label"];
  if (!given) return undefined;
  const labels: Record<string, string> = {};
  for (const kv of given) {
    const at = kv.indexOf("=");
    if (at <= 0) fail(`--worker-label takes KEY=VALUE (got ${JSON.stringify(kv)})`, 2);
    labels[kv.slice(0, at)] = kv.slice(at + 1);
  }
  return labels;
}
const workerLabels = readWorkerLabels();

// Handlers go in before the listening line: a supervisor may signal the moment it reads it, and
// a signal arriving with no handler installed would kill the process with the default action.
let backend: Backend | undefined = undefined;
let stopping = false;
const stop = (signal: NodeJS.Signals): void => {
  if (stopping) return;
  stopping = true;
  process.stderr.write(`backend: ${signal}, shutting down\n`);
  // Still binding: nothing is being served yet, so there is nothing to drain.
  if (!backend) process.exit(0);
  // close() cuts remaining calls after its 2 s grace, so this always settles.
  backend.close({ graceMs: 2000 }).then(
    () => process.exit(0),
    (err: unknown) => fail(`shutdown failed: ${String(err)}`, 1),
  );
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);

backend = await startBackend({ host, port, protoRoot: args["proto-root"], tls, workerLabels }).catch((err: unknown) =>
  fail(err instanceof Error ? err.message : String(err), 1),
);
process.stdout.write(`listening ${backend.address}\n`);
