// The hours chart's vertical scale: a whole day at least, so a satellite awake for 8 minutes
// draws a sliver of a day and not a full bar.

export interface DayHours {
  day: string;
  awakeHours: number;
  asleepHours: number;
}

/** The axis top: 24 h, or the largest day rounded up to a multiple of 24 h (several satellites). */
export function hoursDomainTop(days: DayHours[]): number {
  const max = Math.max(0, ...days.map((d) => d.awakeHours + d.asleepHours));
  return Math.max(24, Math.ceil(max / 24) * 24);
}
