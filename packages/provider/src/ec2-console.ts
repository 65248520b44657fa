// What an EC2 satellite said last, from its serial console (GetConsoleOutput, latest): the
// user-data script writes its own findings there as "satellites: …" lines (a missing CNI plugin,
// a build daemon that would not start), so a start that never became healthy fails with them
// rather than with a bare timeout. Without such lines, the console's last lines stand in.
import { GetConsoleOutputCommand, type EC2Client } from "@aws-sdk/client-ec2";
import { OOM_CONSOLE_WORD } from "./ec2-memory-kills.ts";
import type { Ec2Send } from "./ec2-vpc.ts";

/** The prefix user-data's own console lines carry (user-data.ts, `say`). */
export const CONSOLE_PREFIX = "satellites: ";
const LINES = 5;
// eslint-disable-next-line no-control-regex -- the escape character is exactly what is stripped
const ESCAPES = /\x1b\[[0-9;]*[A-Za-z]/g;
const CHARS = 600;

/** The lines worth quoting from a console's text, joined by " | "; null when there are none. */
export function consoleDiagnosis(text: string): string | null {
  // Serial consoles end lines with CR LF and carry terminal escapes (systemd's coloured "OK").
  // The OOM watch's lines are records for the memory watch (ec2-memory-kills.ts), not findings.
  const oom = `${CONSOLE_PREFIX}${OOM_CONSOLE_WORD} `;
  const lines = text.replace(ESCAPES, "").split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.includes(oom));
  const ours = lines.filter((l) => l.includes(CONSOLE_PREFIX)).map((l) => l.slice(l.indexOf(CONSOLE_PREFIX) + CONSOLE_PREFIX.length));
  const picked = (ours.length ? ours : lines).slice(-LINES);
  if (!picked.length) return null;
  const joined = picked.join(" | ");
  return joined.length > CHARS ? `…${joined.slice(-CHARS)}` : joined;
}

/** The instance's latest console text; null when EC2 has none (or refuses: IAM). */
export async function readConsole(ec2: EC2Client, send: Ec2Send, instanceId: string): Promise<string | null> {
  try {
    const out = await send(`GetConsoleOutput ${instanceId}`, () => ec2.send(new GetConsoleOutputCommand({ InstanceId: instanceId, Latest: true })));
    return out.Output ? Buffer.from(out.Output, "base64").toString("utf8") : null;
  } catch {
    return null;
  }
}

/** The instance's latest console, as consoleDiagnosis reads it; null when EC2 has none (or refuses: IAM). */
export async function readConsoleDiagnosis(ec2: EC2Client, send: Ec2Send, instanceId: string): Promise<string | null> {
  const text = await readConsole(ec2, send, instanceId);
  return text ? consoleDiagnosis(text) : null;
}
