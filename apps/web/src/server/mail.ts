// Outgoing mail: verification, password reset, invitations. With SMTP_URL it goes out over
// SMTP (nodemailer); without, it is kept in the outbox table for the instance admin to read in
// the dashboard, so an embedded install needs no mail server. Each address gets a bounded number
// a day (MAILS_PER_ADDRESS_PER_DAY).
import { config } from "@satellites/config";
import nodemailer, { type Transporter } from "nodemailer";
import { rateLimits } from "./rate-limits.ts";
import { db } from "./services.ts";

export interface Mail {
  to: string;
  subject: string;
  text: string;
}

const g = globalThis as typeof globalThis & { __satellitesMail?: { url: string; transport: Transporter } };

function transport(url: string): Transporter {
  if (g.__satellitesMail?.url !== url) g.__satellitesMail = { url, transport: nodemailer.createTransport(url) };
  return g.__satellitesMail.transport;
}

export type MailOutcome = { via: "smtp" | "outbox" } | { limited: string };

/**
 * Sends `mail` unless its address has had MAILS_PER_ADDRESS_PER_DAY already: every kind counts,
 * whoever asked, so no one can have the instance mail one victim without end.
 */
export async function sendMail(mail: Mail): Promise<MailOutcome> {
  const budget = await rateLimits().consume("mailTo", mail.to);
  if (!budget.ok) return { limited: budget.message };
  const c = config();
  if (!c.SMTP_URL) {
    await db().mailOutbox.create({ data: mail });
    return { via: "outbox" };
  }
  await transport(c.SMTP_URL).sendMail({ from: c.SMTP_FROM, to: mail.to, subject: mail.subject, text: mail.text });
  return { via: "smtp" };
}
