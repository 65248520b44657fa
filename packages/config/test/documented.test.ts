// Every variable the configuration reads is documented in docs/configuration.md, and the doc
// names no variable the configuration does not read; nothing in the code reads the environment
// around packages/config (a release check greps for the same).
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";
import { configSchema } from "../src/index.ts";

const root = path.resolve(fileURLToPath(new URL(".", import.meta.url)), "../../..");
const doc = readFileSync(path.join(root, "docs/configuration.md"), "utf8");

/** The variables named in the first column of the doc's table (a row may name several). */
function documented(): Set<string> {
  const names = new Set<string>();
  for (const line of doc.split("\n")) {
    const first = line.match(/^\|([^|]+)\|/)?.[1];
    if (!first) continue;
    for (const m of first.matchAll(/`([A-Z][A-Z0-9_]+)`/g)) names.add(m[1]!);
  }
  return names;
}

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    if (name === "node_modules" || name === "generated" || name === "test") return [];
    if (statSync(p).isDirectory()) return sources(p);
    return /\.(ts|tsx|mjs)$/.test(name) ? [p] : [];
  });
}

it("documents every variable of the config schema, and no other", () => {
  const schema = Object.keys(configSchema.shape).sort();
  const doc = documented();
  expect(schema.filter((k) => !doc.has(k)), "in packages/config but not in docs/configuration.md").toEqual([]);
  expect([...doc].filter((k) => !schema.includes(k)).sort(), "in docs/configuration.md but not in packages/config").toEqual([]);
});

it("code outside packages/config reads only variables the schema validates", () => {
  const schema = new Set(Object.keys(configSchema.shape));
  const read = new Set<string>();
  // packages/testing serves the test runs (their own variables), not the product.
  for (const base of ["apps", "packages"]) {
    for (const pkg of readdirSync(path.join(root, base))) {
      if (base === "packages" && pkg === "testing") continue;
      const src = path.join(root, base, pkg, "src");
      try {
        statSync(src);
      } catch {
        continue;
      }
      for (const file of sources(src)) for (const m of readFileSync(file, "utf8").matchAll(/process\.env\.([A-Z][A-Z0-9_]+)/g)) read.add(m[1]!);
    }
  }
  // The runtime's own (NODE_ENV; PATH, where the local provider looks for iptables), and scratch
  // databases' switch for tests and benchmarks (packages/db/src/scratch.ts), not settings of the product.
  for (const k of ["NODE_ENV", "PATH", "KEEP_TEST_DB"]) read.delete(k);
  expect([...read].filter((k) => !schema.has(k)).sort()).toEqual([]);
});
