// The calls held for a wake are let go in arrival order, a batch per turn of the event loop when
// they go on to the satellite, all at once when they only get an error.
import { setImmediate as nextTurn } from "node:timers/promises";
import { expect, it } from "vitest";
import { HeldCalls, RELEASE_BATCH } from "../src/held-calls.ts";

function hold(held: HeldCalls<string>, n: number): { told: Array<[number, string]>; leave: Array<() => void> } {
  const told: Array<[number, string]> = [];
  const leave = Array.from({ length: n }, (_, i) => held.add((o) => told.push([i, o])));
  return { told, leave };
}

it("a successful wake lets its calls go in arrival order, a batch per turn, and says when the last is told", async () => {
  const held = new HeldCalls<string>(32);
  const { told } = hold(held, 100);
  let done = false;
  held.release("ok", true, () => (done = true));
  expect(told.map(([i]) => i)).toEqual([...Array(32).keys()]);
  await nextTurn();
  expect(told).toHaveLength(64);
  await nextTurn();
  await nextTurn();
  expect(told.map(([i]) => i)).toEqual([...Array(100).keys()]);
  expect(done).toBe(true);
  expect(RELEASE_BATCH).toBeGreaterThan(1);
});

it("a call that gives up while held is never told and takes no call's place in a batch", async () => {
  const held = new HeldCalls<string>(4);
  const { told, leave } = hold(held, 8);
  leave[1]!();
  leave[2]!();
  held.release("ok", true);
  expect(told.map(([i]) => i)).toEqual([0, 3, 4, 5]);
  await nextTurn();
  expect(told.map(([i]) => i)).toEqual([0, 3, 4, 5, 6, 7]);
});

it("a failed wake tells every held call at once; a call held after the outcome is told at once", () => {
  const held = new HeldCalls<string>(4);
  const { told } = hold(held, 10);
  let done = false;
  held.release("failed", false, () => (done = true));
  expect(told).toHaveLength(10);
  expect(done).toBe(true);
  const late: string[] = [];
  held.add((o) => late.push(o));
  expect(late).toEqual(["failed"]);
});
