// `npm run chaos -- [--seed N] [--intents N] [--reconcile-ms N]`: one chaos run (run.ts) with
// its own Postgres, Redis, EC2 emulator, two proxies and two jobs processes. Progress and every
// finding go to stderr; the last line on stdout is one JSON object of counters. Exit 1 when
// any invariant counter (stuck … limits_mismatch) is not 0.
import { parseArgs } from "node:util";
import { runChaos } from "./run.ts";

const { values } = parseArgs({
  options: {
    seed: { type: "string", default: String(Date.now() % 100_000) },
    intents: { type: "string", default: "200" },
    "reconcile-ms": { type: "string", default: "15000" },
    "max-satellites": { type: "string", default: "10" },
  },
});
const num = (name: string, v: string, min: number): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) {
    process.stderr.write(`--${name} must be a whole number ≥ ${min} (got ${JSON.stringify(v)})\n`);
    process.exit(2);
  }
  return n;
};
const started = Date.now();
const log = (line: string) => process.stderr.write(`[chaos +${((Date.now() - started) / 1000).toFixed(1)}s] ${line}\n`);
const { counters, findings } = await runChaos({
  seed: num("seed", values.seed!, 0),
  intents: num("intents", values.intents!, 1),
  reconcileMs: num("reconcile-ms", values["reconcile-ms"]!, 1000),
  maxSatellites: num("max-satellites", values["max-satellites"]!, 1),
  log,
});
for (const [name, list] of Object.entries(findings)) for (const f of list) log(`${name}: ${f}`);
console.log(JSON.stringify(counters));
process.exit(Object.values(findings).some((l) => l.length > 0) ? 1 : 0);
