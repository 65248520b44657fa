// The proxy's V8 heap, tuned for relaying bytes. A build's bytes pass through as short-lived
// Buffers (each socket read, each DATA frame). After a full GC, V8 set the next one's trigger at
// about 1.2 × the live heap (~10 MB over the proxy's ~48 MB) — less than the young generation it
// may have to promote, so it started marking again at once: a full mark of the whole heap every
// ~200 ms while a build copied, 40 % of the proxy's CPU on a 500 MB COPY (bench:build). Room to grow of its own size ends that; the memory cap (PROXY_MAX_RSS_MIB) and
// V8's hard limit still apply. Read by V8 at each full GC, so setting it at start-up takes effect.
import { setFlagsFromString } from "node:v8";

/** V8's name for it. A flag V8 does not know only prints an error, so a test checks the runtime has it. */
export const HEAP_GROWTH_FLAG = "--heap-growing-percent";

export function setHeapGrowth(percent: number): void {
  if (percent > 0) setFlagsFromString(`${HEAP_GROWTH_FLAG}=${percent}`);
}
