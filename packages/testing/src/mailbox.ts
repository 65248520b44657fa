// A real SMTP server in-process (smtp-server) that keeps what it receives, parsed by
// mailparser: tests read mail the product sent over SMTP and follow its links.
import type { AddressInfo } from "node:net";
import { simpleParser } from "mailparser";
import { SMTPServer } from "smtp-server";

export interface ReceivedMail {
  to: string[];
  from: string;
  subject: string;
  text: string;
  /** Every http(s) URL in the text body. */
  links: string[];
}

export interface Mailbox {
  /** smtp://127.0.0.1:<port> — what SMTP_URL should be. */
  url: string;
  received: ReceivedMail[];
  /** From now on, each mail is acknowledged this long after it arrives (a slow mail server). */
  answerDelayMs: number;
  /** Resolves with the first mail to `to` whose subject matches, waiting up to `timeoutMs`. */
  waitFor(to: string, subject: RegExp, timeoutMs?: number): Promise<ReceivedMail>;
  close(): Promise<void>;
}

/** `onMail` sees each mail as it arrives (the e2e setup writes them where tests can read). */
export async function startMailbox(opts: { onMail?: (m: ReceivedMail) => void } = {}): Promise<Mailbox> {
  const received: ReceivedMail[] = [];
  const waiters = new Set<() => void>();
  // Read when a mail arrives; set by the test through the returned mailbox.
  const box = { answerDelayMs: 0 } as Mailbox;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS"],
    logger: false,
    onData(stream, session, callback) {
      simpleParser(stream)
        .then((m) => {
          const text = m.text ?? "";
          const mail = {
            to: session.envelope.rcptTo.map((r) => r.address.toLowerCase()),
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
            subject: m.subject ?? "",
            text,
            links: text.match(/https?:\/\/[^\s<>"]+/g) ?? [],
          };
          received.push(mail);
          opts.onMail?.(mail);
          for (const w of waiters) w();
          if (box.answerDelayMs > 0) setTimeout(() => callback(), box.answerDelayMs);
          else callback();
        })
        .catch((err: Error) => callback(err));
    },
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.server.address() as AddressInfo;

  function find(to: string, subject: RegExp): ReceivedMail | undefined {
    return received.find((m) => m.to.includes(to.toLowerCase()) && subject.test(m.subject));
  }

  return Object.assign(box, {
    url: `smtp://127.0.0.1:${port}`,
    received,
    waitFor(to: string, subject: RegExp, timeoutMs = 10_000): Promise<ReceivedMail> {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = find(to, subject);
          if (!m) return;
          cleanup();
          resolve(m);
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`no mail to ${to} matching ${subject} within ${timeoutMs} ms (got: ${received.map((m) => `${m.to.join(",")}: ${m.subject}`).join("; ") || "nothing"})`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}
