// The proxy's heap tuning (heap-growth.ts) is one V8 flag set at start; an unknown flag only gets
// a line on stderr, so a Node upgrade that dropped or renamed it would quietly bring back a full
// GC every ~200 ms while builds copy. bench:build counts those GCs; this checks the flag is there.
import { execFileSync } from "node:child_process";
import { expect, it } from "vitest";
import { HEAP_GROWTH_FLAG } from "../src/heap-growth.ts";

it("the V8 flag the proxy sets at start exists in this runtime, as an integer percent", () => {
  const options = execFileSync(process.execPath, ["--v8-options"], { encoding: "utf8", maxBuffer: 16 << 20 });
  const at = options.indexOf(`  ${HEAP_GROWTH_FLAG} (`);
  expect(at, `${process.execPath} (${process.version}) has no ${HEAP_GROWTH_FLAG}`).toBeGreaterThan(-1);
  expect(options.slice(at, options.indexOf("\n  --", at + 3))).toMatch(/type: int\b/);
});
