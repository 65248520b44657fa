// Mail the product sent over SMTP during this run: the global setup's SMTP server writes each
// one to a JSON file; tests wait for theirs and follow its links.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import type { ReceivedMail } from "@satellites/testing/mailbox";

export async function waitForMail(dir: string, to: string, subject: RegExp, timeoutMs = 20_000): Promise<ReceivedMail> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const f of readdirSync(dir).sort()) {
      const m = JSON.parse(readFileSync(path.join(dir, f), "utf8")) as ReceivedMail;
      if (m.to.includes(to.toLowerCase()) && subject.test(m.subject)) return m;
    }
    if (Date.now() > deadline) throw new Error(`no mail to ${to} matching ${subject} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
