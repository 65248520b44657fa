// Failed authentications logged in aggregate: one line per interval with the counts, the number
// of distinct addresses and the busiest ones, instead of a line per call, so a flood of guesses
// cannot flood the log (or the disk under it).
import type { Logger } from "pino";

const TOP = 5;

export class RefusalLog {
  private failed = 0;
  private refused = 0;
  private readonly bySource = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly log: Logger,
    private readonly intervalMs: number,
  ) {
    this.timer = setInterval(() => this.flush(), intervalMs);
    this.timer.unref();
  }

  /** One failed authentication; `refused` when it was answered RESOURCE_EXHAUSTED. */
  count(source: string, refused: boolean): void {
    this.failed++;
    if (refused) this.refused++;
    // Bounded: past this many distinct addresses in one interval, the rest are only counted.
    if (this.bySource.size < 10_000 || this.bySource.has(source)) this.bySource.set(source, (this.bySource.get(source) ?? 0) + 1);
  }

  flush(): void {
    if (this.failed === 0) return;
    const top = [...this.bySource].sort((a, b) => b[1] - a[1]).slice(0, TOP).map(([address, failures]) => ({ address, failures }));
    this.log.warn({ intervalMs: this.intervalMs, failed: this.failed, refused: this.refused, addresses: this.bySource.size, top }, "failed authentications");
    this.failed = 0;
    this.refused = 0;
    this.bySource.clear();
  }

  stop(): void {
    clearInterval(this.timer);
    this.flush();
  }
}
