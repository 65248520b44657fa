// Outgoing mail: verification, password reset, invitations. With SMTP_URL it goes out over
// SMTP (nodemailer); without, it is kept in the outbox table for the instance admin to read in
// the dashboard, so an embedded install needs no mail server. Each address gets a bounded number
// (INVITATION_MAILS_PER_ADDRESS_PER_DAY, AUTH_MAILS_PER_ADDRESS_PER_HOUR).
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
 * Sends `mail` unless its address has had its share of this kind already, whoever asked, so no
 * one can have the instance mail one victim without end. Invitations and account mail
 * (verification, reset) count apart: an inviter, told when an address's invitations are used
 * up, learns nothing of the account mail it gets.
 */
export async function sendMail(mail: Mail, kind: "invitation" | "account"): Promise<MailOutcome> {
  const budget = await rateLimits().consume(kind === "invitation" ? "invitationMailTo" : "authMailTo", mail.to);
  if (!budget.ok) return { limited: budget.message };
  const c = config();
  if (!c.SMTP_URL) {
    await db().mailOutbox.create({ data: mail });
    return { via: "outbox" };
  }
  await transport(c.SMTP_URL).sendMail({ from: c.SMTP_FROM, to: mail.to, subject: mail.subject, text: mail.text });
  return { via: "smtp" };
}
