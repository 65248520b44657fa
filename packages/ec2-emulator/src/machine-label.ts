// The worker label a Satellites user-data gives the machine's BuildKit (`[worker.oci] labels`):
// which limits its daemon runs with. The emulated machine's program serves it (`{workerLabel}`),
// so a control plane's readiness check sees what it would on EC2.
const LABEL = /^ {2}labels = \{ "([\w.-]+)" = "([\w.-]+)" \}$/m;

/** `key=value` of the label in base64 user-data, or undefined when it carries none. */
export function workerLabelOf(userDataBase64: string | null): string | undefined {
  if (!userDataBase64) return undefined;
  const m = LABEL.exec(Buffer.from(userDataBase64, "base64").toString("utf8"));
  return m ? `${m[1]}=${m[2]}` : undefined;
}
