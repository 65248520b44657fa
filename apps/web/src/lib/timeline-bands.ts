// The timeline's geometry, apart from drawing it: which state lasts until when, and which
// window of time the chart spans at a given moment.
const HOUR = 3_600_000;
export interface Interval {
  state: string;
  start: Date | string;
  end: Date | string;
}

export interface Band {
  state: string;
  start: number;
  end: number;
  /** Still going: its end is now. */
  ongoing: boolean;
}

/**
 * The bands to draw and the window they are drawn in, at time `now`: the interval that ended
 * when the server answered (`to`) is the current state and lasts until `now`; the window is the
 * chosen range, zoomed to the data but never to less than an hour.
 */
export function timelineBands(intervals: Interval[], to: Date | string, rangeDays: number, now: number): { bands: Band[]; from: number; end: number } {
  const fetchedAt = new Date(to).getTime();
  const end = Math.max(now, fetchedAt);
  const bands = intervals.map((iv) => {
    const e = new Date(iv.end).getTime();
    const ongoing = e >= fetchedAt;
    return { state: iv.state, start: new Date(iv.start).getTime(), end: ongoing ? end : e, ongoing };
  });
  const rangeStart = end - rangeDays * 86_400_000;
  const firstStart = bands[0]?.start ?? end;
  const from = Math.max(rangeStart, Math.min(firstStart, end - Math.min(HOUR, rangeDays * 86_400_000)));
  return { bands: bands.filter((b) => b.end > from), from, end };
}
