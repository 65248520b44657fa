// The calls one replica holds for a satellite's wake, let go in turns of the event loop once the
// wake is decided. Let go all in one turn, a storm's hundreds of calls went to the satellite in
// one write and their answers came back in one read, so no caller heard back before the proxy
// had handled every call both ways; a batch per turn lets the first calls be answered while the
// last are still being handed on (bench:wake, docs/benchmarks-history.md).

/** Held calls let go per turn of the event loop when a wake succeeds. */
export const RELEASE_BATCH = 32;

export class HeldCalls<T> {
  // A Set keeps the order calls arrived in, and lets a call that gives up leave in O(1).
  private readonly waiting = new Set<(outcome: T) => void>();
  private decided: { outcome: T } | undefined;

  constructor(private readonly batch = RELEASE_BATCH) {}

  /** Holds a call: `settle` is told the outcome once, in its turn. Returns how the call leaves early. */
  add(settle: (outcome: T) => void): () => void {
    if (this.decided) {
      settle(this.decided.outcome);
      return () => {};
    }
    this.waiting.add(settle);
    return () => this.waiting.delete(settle);
  }

  /**
   * Lets every held call go with `outcome`: a batch now and a batch per later turn when
   * `inTurns` (the calls go on to the satellite), else all at once (they only get an error).
   * `done` runs once the last has been told.
   */
  release(outcome: T, inTurns: boolean, done?: () => void): void {
    this.decided = { outcome };
    const limit = inTurns ? this.batch : Infinity;
    const next = (): void => {
      let n = 0;
      for (const settle of this.waiting) {
        if (n++ === limit) break;
        this.waiting.delete(settle);
        settle(outcome);
      }
      if (this.waiting.size > 0) setImmediate(next);
      else done?.();
    };
    next();
  }
}
