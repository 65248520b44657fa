// "Last used" is shown at minute resolution: a credential's use is written at most once a minute
// from each process, so steady traffic (every call of a token, every stream of a certificate)
// costs no statement. The one rule for touchToken here and the proxy's synchronous UsageTouches.
const INTERVAL_MS = 60_000;
/** Beyond this many credentials remembered, the memory starts over (a write more each, no harm). */
const MAX_REMEMBERED = 10_000;

export class RecentUses {
  private readonly written = new Map<string, number>();

  /** Whether `id`'s use at `now` (ms) is due a write; if so it counts as written now. */
  claim(id: string, now: number): boolean {
    const last = this.written.get(id);
    // The row says at least as much already (another process may have written since: the
    // write's own condition covers that).
    if (last !== undefined && now >= last && now - last < INTERVAL_MS) return false;
    if (this.written.size >= MAX_REMEMBERED) this.written.clear();
    this.written.set(id, now);
    return true;
  }

  /** The write claimed at `at` failed: the next use may try again. */
  release(id: string, at: number): void {
    if (this.written.get(id) === at) this.written.delete(id);
  }
}
