import { describe, expect, it } from "vitest";
import { CAUSES, isAllowed, STATES, TRANSITIONS, TRANSITIONAL } from "../src/index.ts";

describe("transition table", () => {
  it("covers every state and names only known states and causes", () => {
    expect(Object.keys(TRANSITIONS).sort()).toEqual([...STATES].sort());
    for (const edges of Object.values(TRANSITIONS)) {
      for (const [to, causes] of Object.entries(edges)) {
        expect(STATES).toContain(to);
        for (const c of causes ?? []) expect(CAUSES).toContain(c);
      }
    }
  });

  it("follows the architecture's main paths", () => {
    expect(isAllowed("creating", "awake", "launch")).toBe(true);
    expect(isAllowed("awake", "stopping", "idle")).toBe(true);
    expect(isAllowed("stopping", "asleep", "idle")).toBe(true);
    expect(isAllowed("asleep", "starting", "request")).toBe(true);
    expect(isAllowed("starting", "awake", "request")).toBe(true);
    expect(isAllowed("awake", "deleting", "delete")).toBe(true);
    expect(isAllowed("deleting", "deleted", "delete")).toBe(true);
    expect(isAllowed("failed", "starting", "manual")).toBe(true);
  });

  it("refuses what a user must never be able to do", () => {
    // A proxy request may wake but never put to sleep; deleted is terminal.
    expect(isAllowed("awake", "stopping", "request")).toBe(false);
    for (const to of STATES) for (const c of CAUSES) expect(isAllowed("deleted", to, c)).toBe(false);
    // Only the reconciler records drift such as an instance stopped outside the product.
    expect(isAllowed("awake", "asleep", "manual")).toBe(false);
    expect(isAllowed("awake", "asleep", "reconcile")).toBe(true);
    // No jumping over the transitional states.
    expect(isAllowed("asleep", "awake", "request")).toBe(false);
    expect(isAllowed("creating", "asleep", "launch")).toBe(false);
  });

  it("marks every state that has a duration as transitional and nothing stable", () => {
    expect([...TRANSITIONAL].sort()).toEqual(["creating", "deleting", "starting", "stopping", "updating"]);
  });
});
