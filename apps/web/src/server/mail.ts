// Outgoing mail: verification, password reset, invitations. With SMTP_URL it goes out over
// SMTP (nodemailer); without, it is kept in the outbox table for the instance admin to read in
// the dashboard, so an embedded install needs no mail server.
import { config } from "@satellites/config";
import nodemailer, { type Transporter } from "nodemailer";
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

export async function sendMail(mail: Mail): Promise<{ via: "smtp" | "outbox" }> {
  const c = config();
  if (!c.SMTP_URL) {
    await db().mailOutbox.create({ data: mail });
    return { via: "outbox" };
  }
  await transport(c.SMTP_URL).sendMail({ from: c.SMTP_FROM, to: mail.to, subject: mail.subject, text: mail.text });
  return { via: "smtp" };
}
