// CLI: node --import tsx packages/ec2-emulator/src/main.ts [--port P] [--host H]
//   [--satellite-port P] [--command "prog --host {host} --port {port}"] [--no-throttle]
//   [--pending-ms N] [--stopping-ms N] [--region R]
// Prints "listening http://<host>:<port>" once serving; SIGTERM/SIGINT close it (and kill every
// instance process) and exit 0.
import { parseArgs } from "node:util";
import { startEmulator } from "./emulator.ts";

function fail(message: string): never {
  process.stderr.write(`ec2-emulator: ${message}\n`);
  process.exit(2);
}

function int(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) fail(`--${name} must be a non-negative integer, got ${JSON.stringify(raw)}`);
  return n;
}

let values: ReturnType<typeof parse>["values"];
function parse() {
  return parseArgs({
    options: {
      port: { type: "string" },
      host: { type: "string" },
      region: { type: "string" },
      "satellite-port": { type: "string" },
      command: { type: "string" },
      "no-throttle": { type: "boolean" },
      "pending-ms": { type: "string" },
      "stopping-ms": { type: "string" },
    },
  });
}
try {
  values = parse().values;
} catch (err) {
  fail(err instanceof Error ? err.message : String(err));
}

const pendingMs = int("pending-ms", values["pending-ms"]);
const stoppingMs = int("stopping-ms", values["stopping-ms"]);
const emulator = await startEmulator({
  port: int("port", values.port) ?? 0,
  host: values.host,
  region: values.region,
  satellitePort: int("satellite-port", values["satellite-port"]),
  command: values.command,
  throttle: values["no-throttle"] ? false : undefined,
  timings: { ...(pendingMs !== undefined && { pendingMs }), ...(stoppingMs !== undefined && { stoppingMs }) },
}).catch((err: unknown) => fail(err instanceof Error ? err.message : String(err)));
process.stdout.write(`listening ${emulator.endpoint}\n`);

const stop = (): void => {
  emulator.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
