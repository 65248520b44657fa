import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { HeldHealthChannel, probeHealth } from "../src/probe.ts";
import { collect, testClient, unary } from "./client.ts";
import { connectionsTo, freePort } from "@satellites/testing";

const MAIN = fileURLToPath(new URL("../src/main.ts", import.meta.url));
const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));

interface Running {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | string>;
}

function run(args: string[], env: Record<string, string> = {}): Running {
  // HOST/PORT from the test runner's own environment must not leak into the CLI under test.
  const { HOST: _h, PORT: _p, ...inherited } = process.env;
  const child = spawn(process.execPath, ["--import", "tsx", MAIN, ...args], {
    cwd: REPO_ROOT,
    env: { ...inherited, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  const exited = once(child, "exit").then(([code, signal]) => (code as number | null) ?? (signal as string));
  return { child, stdout: () => out, stderr: () => err, exited };
}


/** Resolves with host:port from the `listening` line, or rejects if the process exits first. */
async function listening(p: Running): Promise<string> {
  const deadline = Date.now() + 20_000;
  let exitCode: number | string | undefined;
  void p.exited.then((c) => (exitCode = c));
  for (;;) {
    const m = /^listening (\S+)\n/.exec(p.stdout());
    if (m?.[1]) return m[1];
    if (exitCode !== undefined) throw new Error(`exited ${exitCode}: ${p.stderr()}`);
    if (Date.now() > deadline) throw new Error(`no listening line; stderr: ${p.stderr()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("backend CLI", () => {
  it("prints one listening line, serves, and exits 0 on SIGTERM", async () => {
    const p = run(["--host", "127.0.0.1", "--port", "0"]);
    const address = await listening(p);
    expect(address).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(await probeHealth(address, { timeoutMs: 2000 })).toBe("SERVING");
    const client = testClient(address);
    const { err } = await unary(client.UnaryCall.bind(client), { response_size: 7 });
    expect(err).toBeNull();
    client.close();
    p.child.kill("SIGTERM");
    expect(await p.exited).toBe(0);
    expect(p.stdout()).toBe(`listening ${address}\n`);
  });

  it("takes HOST and PORT from the environment, and exits 0 on SIGINT", async () => {
    const port = await freePort();
    const p = run([], { HOST: "127.0.0.1", PORT: String(port) });
    expect(await listening(p)).toBe(`127.0.0.1:${port}`);
    p.child.kill("SIGINT");
    // Signalled the instant the line appears: handlers must already be installed by then.
    expect(await p.exited, p.stderr()).toBe(0);
  });

  it("cuts calls still running 2 s into shutdown and still exits 0", async () => {
    const p = run(["--port", "0"]);
    const address = await listening(p);
    const client = testClient(address);
    const stream = client.StreamingOutputCall({
      response_parameters: [{ size: 1 }, { size: 1, interval_us: 60_000_000 }],
    });
    const outcome = collect(stream);
    await new Promise((r) => stream.once("data", r));
    const started = Date.now();
    p.child.kill("SIGTERM");
    expect(await p.exited).toBe(0);
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(1900);
    expect(took).toBeLessThan(4000);
    expect((await outcome).status.code).not.toBe(grpc.status.OK);
    client.close();
  });

  it("exits non-zero with one line when the port is taken", async () => {
    const first = run(["--port", "0"]);
    const address = await listening(first);
    const port = address.split(":")[1] ?? "";
    const second = run(["--port", port]);
    expect(await second.exited).not.toBe(0);
    const lines = second.stderr().trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/cannot listen on 127\.0\.0\.1:\d+.*EADDRINUSE/);
    expect(second.stdout()).toBe("");
    first.child.kill("SIGTERM");
    expect(await first.exited).toBe(0);
  });

  it("rejects a bad port with a one-line usage error", async () => {
    const p = run(["--port", "99999"]);
    expect(await p.exited).toBe(2);
    expect(p.stderr().trim().split("\n")).toHaveLength(1);
  });
});

describe("a health channel held across a stop", () => {
  it("answers a check sent while the satellite is stopped once it runs again, on the connection opened before", async () => {
    const p = run(["--host", "127.0.0.1", "--port", "0"]);
    const address = await listening(p);
    const port = Number(address.split(":")[1]);
    const held = new HeldHealthChannel(address, {});
    try {
      expect(await held.check(2000)).toBe("SERVING");
      expect(connectionsTo(port)).toBe(1);
      // What hibernation does to a satellite: its process stops; its sockets stay.
      p.child.kill("SIGSTOP");
      const answer = held.check(5000);
      let answered = false;
      void answer.then(() => (answered = true));
      await new Promise((r) => setTimeout(r, 300));
      expect(answered).toBe(false);
      p.child.kill("SIGCONT");
      expect(await answer).toBe("SERVING");
      // No new connection was needed for it.
      expect(connectionsTo(port)).toBe(1);
    } finally {
      held.close();
      p.child.kill("SIGCONT");
      p.child.kill("SIGTERM");
      await p.exited;
    }
  });
});
