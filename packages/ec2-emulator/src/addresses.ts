// Private IPs for emulated instances. All of 127.0.0.0/8 is loopback on Linux, so each instance
// gets its own 127.0.<x>.<y> and every one can listen on the same satellite port, as real
// machines on a subnet do. <x> is random per emulator so emulators running side by side (test
// workers) rarely meet; an address whose port is taken anyway is skipped.
import { createServer } from "node:net";

function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

export class LoopbackAddresses {
  private readonly inUse = new Set<string>();
  /** Offset of the first third octet, 0..252 (octets 2..254 are used). */
  private readonly base: number;
  private next = 0;

  constructor(third?: number) {
    // Skip 127.0.0.x (the host's own services) and 127.0.1.x (Debian's hostname address).
    this.base = third === undefined ? Math.floor(Math.random() * 253) : Math.min(252, Math.max(0, third - 2));
  }

  async allocate(port: number): Promise<string> {
    for (let tries = 0; tries < 253 * 4; tries++) {
      const third = ((this.base + Math.floor(this.next / 253)) % 253) + 2;
      const fourth = (this.next % 253) + 2;
      this.next++;
      const ip = `127.0.${third}.${fourth}`;
      if (this.inUse.has(ip)) continue;
      if (await portFree(ip, port)) {
        this.inUse.add(ip);
        return ip;
      }
    }
    throw new Error("no free loopback address");
  }

  release(ip: string): void {
    this.inUse.delete(ip);
  }
}
