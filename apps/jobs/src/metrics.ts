import { Counter, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    jobs: new Counter({ name: "satellites_jobs_total", help: "Jobs processed, by queue and outcome", labelNames: ["queue", "outcome"] as const, registers: [registry] }),
    transitionSeconds: new Histogram({
      name: "satellites_transition_seconds",
      help: "How long provider transitions took (launch, wake, sleep, resize, delete), including the health check",
      labelNames: ["kind", "provider"] as const,
      buckets: [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300],
      registers: [registry],
    }),
    idleScanSeconds: new Histogram({ name: "satellites_idle_scan_seconds", help: "Duration of one idle-scan pass", buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2], registers: [registry] }),
    memoryKills: new Counter({ name: "satellites_memory_kills_total", help: "Processes the kernel's OOM killer killed on satellites (build steps or daemons), as recorded in their history", registers: [registry] }),
    repairs: new Counter({ name: "satellites_reconcile_repairs_total", help: "Repairs made by the reconciler, by kind", labelNames: ["kind"] as const, registers: [registry] }),
  };
}
export type JobMetrics = ReturnType<typeof createMetrics>;
