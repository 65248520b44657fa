// The admin port: /metrics for Prometheus and /healthz for supervisors and load balancers.
// Separate from the gRPC port so scraping never competes with (or is exposed like) builds.
import http from "node:http";
import type { ProxyMetrics } from "./metrics.ts";

export function startAdmin(host: string, port: number, metrics: ProxyMetrics, healthy: () => { ok: boolean; detail: Record<string, unknown> }): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const url = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    if (url === "/healthz") {
      const h = healthy();
      res.writeHead(h.ok ? 200 : 503, { "content-type": "application/json" }).end(JSON.stringify({ status: h.ok ? "ok" : "unhealthy", ...h.detail }));
      return;
    }
    if (url === "/metrics") {
      metrics.registry.metrics().then(
        (text) => res.writeHead(200, { "content-type": metrics.registry.contentType }).end(text),
        (err: unknown) => res.writeHead(500).end(String(err)),
      );
      return;
    }
    res.writeHead(404, { "content-type": "text/plain" }).end("not found; try /healthz or /metrics\n");
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve(server);
    });
  });
}
