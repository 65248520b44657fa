// Deaths the provider's watch reports, handed to whoever waits on that machine: a launch or wake
// waiting for its health check stops waiting once the daemon has exited, instead of probing a
// dead address until the timeout (the watch reports a dead machine at every poll, so a waiter
// that registers after the death still hears of it within one poll).
export interface DeathWatch {
  /** Aborted when the machine is reported dead. */
  signal: AbortSignal;
  done(): void;
}

export class MachineDeaths {
  private readonly waiting = new Map<string, Set<AbortController>>();

  watch(instanceId: string): DeathWatch {
    const controller = new AbortController();
    const set = this.waiting.get(instanceId) ?? new Set();
    set.add(controller);
    this.waiting.set(instanceId, set);
    return {
      signal: controller.signal,
      done: () => {
        set.delete(controller);
        if (!set.size && this.waiting.get(instanceId) === set) this.waiting.delete(instanceId);
      },
    };
  }

  notify(instanceId: string): void {
    for (const c of this.waiting.get(instanceId) ?? []) c.abort();
  }
}
