// The build a Solve or Status call is about, read from its request's first message as it passes:
// however the message is cut into DATA chunks, whatever fields come before the ref, and nothing
// (no ref) from what is not a plain message with one.
import protobuf from "protobufjs/minimal.js";
import { expect, it } from "vitest";
import { BuildRef } from "../src/build-ref.ts";
import { grpcFrame } from "./helpers.ts";

const REF = "k0qnvd2yl5fr1tsm3wbx0a9ez";

function refOf(chunks: Buffer[]): string | undefined {
  const build = new BuildRef();
  for (const c of chunks) build.feed(c);
  return build.ref;
}

/** A message with these fields, in this order, framed. */
function message(write: (w: protobuf.Writer) => protobuf.Writer): Buffer {
  return grpcFrame(Buffer.from(write(protobuf.Writer.create()).finish()));
}

const solve = message((w) => w.uint32((1 << 3) | 2).string(REF).uint32((2 << 3) | 2).bytes(Buffer.alloc(300_000, 7)));

it("reads a Solve's and a Status call's ref, whole and cut at every point of its head", () => {
  expect(refOf([solve])).toBe(REF);
  expect(refOf([message((w) => w.uint32((1 << 3) | 2).string(REF))])).toBe(REF);
  for (let i = 1; i < 40; i++) expect(refOf([solve.subarray(0, i), solve.subarray(i)]), `cut at ${i}`).toBe(REF);
  expect(refOf(Array.from({ length: 40 }, (_, i) => solve.subarray(i, i + 1)))).toBe(REF);
});

it("finds the ref after other small fields, and only a string in field 1", () => {
  expect(refOf([message((w) => w.uint32((5 << 3) | 0).uint32(3).uint32((3 << 3) | 2).string("x").uint32((1 << 3) | 2).string(REF))])).toBe(REF);
  expect(refOf([message((w) => w.uint32((1 << 3) | 0).uint32(42))])).toBeUndefined();
});

it("reads nothing from a compressed message, one without a ref, an empty or oversized ref, or one past its first 512 bytes", () => {
  const compressed = Buffer.from(solve);
  compressed[0] = 1;
  expect(refOf([compressed])).toBeUndefined();
  expect(refOf([grpcFrame(Buffer.alloc(100))])).toBeUndefined();
  expect(refOf([message((w) => w.uint32((1 << 3) | 2).string(""))])).toBeUndefined();
  expect(refOf([message((w) => w.uint32((1 << 3) | 2).string("r".repeat(129)))])).toBeUndefined();
  expect(refOf([message((w) => w.uint32((2 << 3) | 2).bytes(Buffer.alloc(600)).uint32((1 << 3) | 2).string(REF))])).toBeUndefined();
  expect(refOf([])).toBeUndefined();
});

it("looks only at the first message: later chunks are not kept", () => {
  const build = new BuildRef();
  build.feed(solve.subarray(0, 3));
  build.feed(solve.subarray(3));
  build.feed(message((w) => w.uint32((1 << 3) | 2).string("another")));
  expect(build.ref).toBe(REF);
});
