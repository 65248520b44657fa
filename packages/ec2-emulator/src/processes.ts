// The "machine" behind a running emulated instance: a real local process in its own process
// group (so signals reach whatever the command spawns). Stop kills it, hibernate freezes it with
// SIGSTOP (memory kept), resume thaws it with SIGCONT. Every live child is killed when this
// process exits, however it exits short of SIGKILL.
import { spawn, type ChildProcess } from "node:child_process";

export type ProcessState = "running" | "frozen" | "exited";

const live = new Set<MachineProcess>();
let hooked = false;

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on("exit", () => {
    for (const p of live) p.signal("SIGKILL");
  });
}

/** The satellite's TLS files, as its user-data delivered them (see tlsFromUserData). */
export interface MachineTlsFiles {
  ca: string;
  cert: string;
  key: string;
}

/**
 * Expand `{host}`, `{port}`, the TLS files (`{tlsCa}`, `{tlsCert}`, `{tlsKey}`) and the worker
 * label (`{workerLabel}`, `key=value`) in each argument of a command template. Without TLS files
 * or a label, such a placeholder argument is dropped with the flag before it, so one template
 * serves machines with and without them.
 */
export function expandCommand(template: readonly string[], host: string, port: number, tls?: MachineTlsFiles, workerLabel?: string): string[] {
  const tlsValues: Record<string, string | undefined> = { "{tlsCa}": tls?.ca, "{tlsCert}": tls?.cert, "{tlsKey}": tls?.key, "{workerLabel}": workerLabel };
  const out: string[] = [];
  for (const arg of template) {
    if (arg in tlsValues) {
      const value = tlsValues[arg];
      if (value === undefined) out.pop();
      else out.push(value);
      continue;
    }
    out.push(arg.replaceAll("{host}", host).replaceAll("{port}", String(port)));
  }
  return out;
}

const LOG_LIMIT = 64 * 1024;

export class MachineProcess {
  state: ProcessState = "running";
  readonly pid: number;
  readonly exited: Promise<void>;
  private readonly child: ChildProcess;
  private output = "";

  constructor(argv: readonly string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
    const [cmd, ...args] = argv;
    if (!cmd) throw new Error("empty instance command");
    hookExit();
    this.child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    this.exited = new Promise<void>((resolve) => {
      this.child.once("close", () => resolve());
      this.child.once("error", (err) => {
        this.append(`spawn failed: ${err.message}\n`);
        resolve();
      });
    }).then(() => {
      this.state = "exited";
      live.delete(this);
    });
    this.pid = this.child.pid ?? -1;
    if (this.pid > 0) live.add(this);
    this.child.stdout?.on("data", (b: Buffer) => this.append(b.toString()));
    this.child.stderr?.on("data", (b: Buffer) => this.append(b.toString()));
  }

  private append(text: string): void {
    this.output = (this.output + text).slice(-LOG_LIMIT);
  }

  /** The tail of what the process wrote (stdout and stderr interleaved). */
  get log(): string {
    return this.output;
  }

  signal(sig: NodeJS.Signals): void {
    if (this.state === "exited" || this.pid <= 0) return;
    try {
      process.kill(-this.pid, sig);
    } catch {
      // Already gone: the close event will follow.
    }
  }

  freeze(): void {
    if (this.state !== "running") return;
    this.signal("SIGSTOP");
    this.state = "frozen";
  }

  thaw(): void {
    if (this.state !== "frozen") return;
    this.signal("SIGCONT");
    this.state = "running";
  }

  /** Graceful stop: SIGTERM (a frozen process is thawed so it can handle it), SIGKILL after graceMs. */
  async stop(graceMs: number): Promise<void> {
    if (this.state === "exited") return;
    this.signal("SIGTERM");
    this.thaw();
    const timer = setTimeout(() => this.signal("SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  async kill(): Promise<void> {
    this.signal("SIGKILL");
    await this.exited;
  }
}
