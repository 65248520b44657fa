// bench:proxy only: the proxy with a plaintext hop to its satellite, so that it can be compared
// with nginx and the bare relay on equal terms (they reach the plaintext backend). The product
// always speaks mutual TLS to satellites (apps/proxy/src/main.ts); this process exists only to
// separate what the forwarder costs from what TLS costs.
import { loadConfigOrExit } from "@satellites/config";
import { setHeapGrowth } from "../../apps/proxy/src/heap-growth.ts";
import { startProxy } from "../../apps/proxy/src/proxy.ts";

const config = loadConfigOrExit();
setHeapGrowth(config.PROXY_HEAP_GROWTH_PERCENT); // as main.ts does
// No upstreamTls: the hop to the satellite is plaintext h2c.
const proxy = await startProxy(config, config.QUEUE_PREFIX ? { queuePrefix: config.QUEUE_PREFIX } : {});
const stop = (): void => void proxy.close({ graceMs: 500 }).then(() => process.exit(0));
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
