// The process's resident memory, sampled a few times a second: above the cap the front door takes
// no new work (Envoy's overload manager, with one resource). Sampling rather than checking per
// call keeps the hot path free of a syscall.
export class MemoryGuard {
  private over = false;
  private readonly timer: NodeJS.Timeout;

  constructor(
    readonly maxRssBytes: number,
    private readonly onChange: (overloaded: boolean, rss: number) => void,
    everyMs = 250,
  ) {
    this.timer = setInterval(() => this.sample(), everyMs);
    this.timer.unref();
  }

  get overloaded(): boolean {
    return this.over;
  }

  sample(): void {
    const rss = process.memoryUsage.rss();
    const over = rss > this.maxRssBytes;
    if (over === this.over) return;
    this.over = over;
    this.onChange(over, rss);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
