// Port reservations for local satellites. A satellite keeps its port for life (the upstream
// recorded in Postgres stays valid across stop/start), so the reservation is a file created
// exclusively under the data dir: two workers can never hand out the same port.
import { mkdir, open, readFile, unlink } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";

/** Below Linux's ephemeral range (32768+), so outgoing connections do not grab a stopped satellite's port. */
export const DEFAULT_PORT_RANGE: [number, number] = [21000, 22999];

/** Whether `port` can be bound on `host` right now. */
export function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

export async function waitPortFree(host: string, port: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!(await portFree(host, port))) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}

export class PortReservations {
  constructor(
    private readonly dir: string,
    private readonly host: string,
    private readonly range: [number, number],
  ) {}

  private file(port: number): string {
    return join(this.dir, String(port));
  }

  /** Reserves a free port for `owner`; throws when the range is exhausted. */
  async reserve(owner: string): Promise<number> {
    const [low, high] = this.range;
    const size = high - low + 1;
    await mkdir(this.dir, { recursive: true });
    // A random starting point keeps providers with different data dirs from colliding.
    const offset = Math.floor(Math.random() * size);
    for (let i = 0; i < size; i++) {
      const port = low + ((offset + i) % size);
      let handle;
      try {
        handle = await open(this.file(port), "wx");
      } catch {
        continue;
      }
      await handle.writeFile(owner);
      await handle.close();
      if (await portFree(this.host, port)) return port;
      await unlink(this.file(port));
    }
    throw new Error(`no free port in ${low}-${high} on ${this.host}`);
  }

  /** Releases `port` if `owner` holds it. */
  async release(port: number, owner: string): Promise<void> {
    try {
      if ((await readFile(this.file(port), "utf8")) === owner) await unlink(this.file(port));
    } catch {
      // Not reserved (any more).
    }
  }
}
