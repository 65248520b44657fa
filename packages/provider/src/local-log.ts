// The end of a local satellite's log (its daemon's output, `<dataDir>/<instance>/satellite.log`),
// for the dashboard. Read-only and bounded: at most `maxBytes` from the end, starting at a line
// boundary, decoded leniently (a daemon may write anything). The file is rotated and trimmed
// from the front while the satellite runs (local-process.ts), so readers ask for the tail each
// time rather than following an offset.
import { open } from "node:fs/promises";
import { join } from "node:path";
import { validInstanceId } from "./local-state.ts";

export interface LogTail {
  text: string;
  /** Bytes in the file now. */
  size: number;
  /** The file holds more than was returned (older lines left out). */
  truncated: boolean;
  modifiedAt: Date | null;
}

export async function readLocalLogTail(dataDir: string, instanceId: string, maxBytes: number): Promise<LogTail | null> {
  // Ids come from the database; anything else never becomes a path.
  if (!validInstanceId(instanceId)) return null;
  let fh;
  try {
    fh = await open(join(dataDir, instanceId, "satellite.log"), "r");
  } catch {
    return null;
  }
  try {
    const st = await fh.stat();
    const start = Math.max(0, st.size - maxBytes);
    const buf = Buffer.alloc(st.size - start);
    const { bytesRead } = await fh.read(buf, 0, buf.length, start);
    let chunk = buf.subarray(0, bytesRead);
    if (start > 0) {
      // Begin at a whole line (and never inside a multi-byte character).
      const nl = chunk.indexOf(0x0a);
      if (nl >= 0 && nl < chunk.length - 1) chunk = chunk.subarray(nl + 1);
    }
    return { text: chunk.toString("utf8"), size: st.size, truncated: start > 0, modifiedAt: st.mtime };
  } finally {
    await fh.close();
  }
}
