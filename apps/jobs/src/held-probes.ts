// Health channels held open to hibernated local daemons, one per satellite, from the sleep to
// the next wake: the wake's first probe goes over a connection that already exists, answered the
// moment the daemon is thawed. Only this worker's own sleeps are held (another worker's wake, or
// one after a restart, probes as before), and at most HELD_MAX at a time.
import { HeldHealthChannel, type ProbeOptions } from "@satellites/backend/probe";

const HELD_MAX = 256;
/** A daemon about to be frozen answers at once; this bounds what holding may add to a sleep. */
const HOLD_CHECK_MS = 1_000;

export class HeldProbes {
  private readonly held = new Map<string, HeldHealthChannel>();

  /** Opens a channel to the daemon while it still answers; kept only if its check passes. */
  async hold(satelliteId: string, upstream: string, opts: Pick<ProbeOptions, "credentials" | "serverName">): Promise<void> {
    this.drop(satelliteId);
    const channel = new HeldHealthChannel(upstream, opts);
    if ((await channel.check(HOLD_CHECK_MS)) !== "SERVING") return channel.close();
    this.held.set(satelliteId, channel);
    const oldest = this.held.keys().next().value;
    if (this.held.size > HELD_MAX && oldest !== undefined) this.drop(oldest);
  }

  /** The satellite's held channel, no longer held here (the caller closes it). */
  take(satelliteId: string): HeldHealthChannel | undefined {
    const channel = this.held.get(satelliteId);
    this.held.delete(satelliteId);
    return channel;
  }

  drop(satelliteId: string): void {
    this.take(satelliteId)?.close();
  }

  close(): void {
    for (const id of [...this.held.keys()]) this.drop(id);
  }
}
