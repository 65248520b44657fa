// The proxy's reading of a step's output for a full disk: the words are found however the
// Status answer is cut into DATA chunks, and nothing else sets the mark.
import { expect, it } from "vitest";
import { OutOfSpaceScan, StepOutOfSpace } from "../src/out-of-space.ts";

function scanned(chunks: Buffer[]): boolean {
  const signals = new StepOutOfSpace();
  const scan = new OutOfSpaceScan(signals);
  for (const c of chunks) scan.scan(c);
  return signals.stepOutOfSpaceAt(undefined) !== undefined;
}

/** `text` cut at every given offset. */
function cut(text: string, at: number[]): Buffer[] {
  const b = Buffer.from(text);
  const points = [0, ...at, b.length];
  return points.slice(1).map((end, i) => b.subarray(points[i], end));
}

it("finds the words whole, split at every point, and in one-byte chunks; in either case of their first letter", () => {
  const line = "\u0000\u0001xdd: error writing '/fill': No space left on device\nmore";
  expect(scanned([Buffer.from(line)])).toBe(true);
  expect(scanned([Buffer.from("npm ERR! ENOSPC: no space left on device, write")])).toBe(true);
  for (let i = 1; i < line.length; i++) expect(scanned(cut(line, [i])), `cut at ${i}`).toBe(true);
  expect(scanned(cut(line, Array.from({ length: line.length - 1 }, (_, i) => i + 1)))).toBe(true);
  // Cut into short pieces of uneven length.
  expect(scanned(cut(line, [30, 33, 34, 40, 41, 50]))).toBe(true);
});

it("does not mark what only resembles the words, nor words spread over chunks with others between", () => {
  expect(scanned([Buffer.from("No space left on devic"), Buffer.from("x")])).toBe(false);
  expect(scanned([Buffer.from("plenty of space left on the device")])).toBe(false);
  expect(scanned([Buffer.from("No space left"), Buffer.alloc(100, 0x61), Buffer.from(" on device")])).toBe(false);
  expect(scanned([])).toBe(false);
});

it("marks the build its Status call names; a call whose ref is unknown marks every build on the connection", () => {
  const signals = new StepOutOfSpace();
  expect(signals.stepOutOfSpaceAt("a")).toBeUndefined();
  signals.noteStepOutOfSpace("a");
  expect(signals.stepOutOfSpaceAt("a")).toBeTypeOf("number");
  expect(signals.stepOutOfSpaceAt("b")).toBeUndefined();
  // A Solve whose ref is unknown takes any build's words.
  expect(signals.stepOutOfSpaceAt(undefined)).toBe(signals.stepOutOfSpaceAt("a"));
  signals.noteStepOutOfSpace(undefined);
  expect(signals.stepOutOfSpaceAt("b")).toBeTypeOf("number");
});

it("keeps the marks of the last 64 builds on a connection", () => {
  const signals = new StepOutOfSpace();
  for (let i = 0; i < 65; i++) signals.noteStepOutOfSpace(`ref-${i}`);
  expect(signals.stepOutOfSpaceAt("ref-0")).toBeUndefined();
  expect(signals.stepOutOfSpaceAt("ref-1")).toBeTypeOf("number");
  expect(signals.stepOutOfSpaceAt("ref-64")).toBeTypeOf("number");
});
