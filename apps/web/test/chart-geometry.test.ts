// What the charts draw, apart from drawing it: the hours axis is a whole day (a short day is
// a sliver, not a full bar) and the timeline's current state keeps growing with the clock.
import { describe, expect, it } from "vitest";
import { hoursDomainTop } from "../src/lib/hours-scale.ts";
import { timelineBands } from "../src/lib/timeline-bands.ts";

const H = 3_600_000;

describe("hours axis", () => {
  it("spans a whole day when a satellite was awake for minutes", () => {
    expect(hoursDomainTop([{ day: "2026-12-01", awakeHours: 0.13, asleepHours: 0 }])).toBe(24);
    expect(hoursDomainTop([])).toBe(24);
  });
  it("grows by whole days for an organization of several satellites", () => {
    expect(hoursDomainTop([{ day: "2026-12-01", awakeHours: 30, asleepHours: 10 }])).toBe(48);
  });
});

describe("timeline", () => {
  const t0 = Date.UTC(2026, 11, 3, 8, 0, 0);
  // Created at t0 (488 ms creating), then awake; the server answered 12 ms after.
  const intervals = [
    { state: "creating", start: new Date(t0), end: new Date(t0 + 488) },
    { state: "awake", start: new Date(t0 + 488), end: new Date(t0 + 500) },
  ];
  const fetched = new Date(t0 + 500);

  it("just after creation, a 488 ms Creating is a sliver of an hour's window, not most of the bar", () => {
    const { bands, from, end } = timelineBands(intervals, fetched, 1, t0 + 500);
    expect(end - from).toBe(H);
    const creating = bands.find((b) => b.state === "creating")!;
    expect((creating.end - creating.start) / (end - from)).toBeLessThan(0.001);
  });

  it("the current state lasts until the browser's now, not the fetch", () => {
    const later = t0 + 10 * 60_000;
    const { bands, end } = timelineBands(intervals, fetched, 1, later);
    expect(end).toBe(later);
    const awake = bands.at(-1)!;
    expect(awake).toMatchObject({ state: "awake", ongoing: true, end: later });
    expect(bands[0]).toMatchObject({ state: "creating", ongoing: false, end: t0 + 488 });
  });

  it("rolls: after a day, the window is the last 24 hours and older bands are left out", () => {
    const later = t0 + 25 * H;
    const { bands, from } = timelineBands(intervals, fetched, 1, later);
    expect(from).toBe(later - 24 * H);
    expect(bands.map((b) => b.state)).toEqual(["awake"]);
  });
});
