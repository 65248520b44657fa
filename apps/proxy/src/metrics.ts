// Prometheus metrics for /metrics. Hot-path counts are plain numbers copied into the registry at
// scrape time: a labelled prom-client increment per DATA chunk would cost more than the copy.
import client from "prom-client";
import { statusName } from "./grpc.ts";

export class ProxyMetrics {
  readonly registry = new client.Registry();
  private readonly calls = new Map<string, number>();
  bytesUp = 0;
  bytesDown = 0;
  readonly wakeWait: client.Histogram;
  private readonly waits: number[] = [];

  constructor(activeStreams: () => Map<string, number>, replicaId: string) {
    this.registry.setDefaultLabels({ replica: replicaId });
    client.collectDefaultMetrics({ register: this.registry, prefix: "satellites_proxy_" });
    const calls = this.calls;
    const bytes = (): [number, number] => [this.bytesUp, this.bytesDown];
    new client.Gauge({
      name: "satellites_proxy_active_streams",
      help: "Calls open (forwarding or waiting for a wake) per satellite",
      labelNames: ["satellite"],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [id, n] of activeStreams()) this.set({ satellite: id }, n);
      },
    });
    new client.Counter({
      name: "satellites_proxy_calls_total",
      help: "Finished calls by gRPC status (or reset)",
      labelNames: ["code"],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [code, n] of calls) this.inc({ code }, n);
      },
    });
    new client.Counter({
      name: "satellites_proxy_bytes_total",
      help: "Message bytes forwarded, by direction (upstream = client to satellite)",
      labelNames: ["direction"],
      registers: [this.registry],
      collect() {
        this.reset();
        const [up, down] = bytes();
        this.inc({ direction: "upstream" }, up);
        this.inc({ direction: "downstream" }, down);
      },
    });
    const waits = this.waits;
    this.wakeWait = new client.Histogram({
      name: "satellites_proxy_wake_wait_seconds",
      help: "How long calls waited for their satellite to wake",
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120],
      registers: [this.registry],
      collect() {
        for (const s of waits.splice(0)) this.observe(s);
      },
    });
  }

  /**
   * A call waited `seconds` for its wake. Recorded into the histogram at the next scrape: a
   * wake releases hundreds of calls at once, and each should be forwarded, not measured, first.
   */
  wakeWaited(seconds: number): void {
    this.waits.push(seconds);
    if (this.waits.length >= 10_000) for (const s of this.waits.splice(0)) this.wakeWait.observe(s);
  }

  call(outcome: number | "reset"): void {
    const key = outcome === "reset" ? "RESET" : statusName(outcome);
    this.calls.set(key, (this.calls.get(key) ?? 0) + 1);
  }
}
