// Builds as the chaos suite makes them: gRPC calls through one of the proxies with the
// Earthly CLI's metadata. A "call" is a unary health check (it wakes an asleep satellite); a
// "stream" is a long bidi stream echoed by the satellite, message by message, like a build's
// session. Every call ends with a status or is reported as hung by a watchdog.
import * as grpc from "@grpc/grpc-js";

export interface CallRecord {
  kind: "call" | "stream";
  satelliteId: string;
  proxy: number;
  began: number;
  /** Stream: when the first echo came back (the satellite was serving it). */
  servedAt: number | null;
  ended: number;
  /** gRPC status code, or "hung" when no status came within the watchdog. */
  code: number | "hung";
  details: string;
  /** Stream: messages sent and echoed. */
  sent: number;
  echoed: number;
}

const identity = (b: Buffer) => b;

export class ProxyClients {
  private readonly clients: grpc.Client[];
  constructor(ports: number[]) {
    // Reconnect within a second of a killed proxy's restart. grpc-js's default backoff grows to
    // minutes, and meanwhile every call fails at once without reaching a proxy: after a few kills
    // most of a run's calls and streams never reached a satellite, proving nothing about it.
    const options = { "grpc.enable_retries": 0, "grpc.initial_reconnect_backoff_ms": 200, "grpc.max_reconnect_backoff_ms": 1_000 };
    this.clients = ports.map((p) => new grpc.Client(`127.0.0.1:${p}`, grpc.credentials.createInsecure(), options));
  }
  close(): void {
    for (const c of this.clients) c.close();
  }

  metadata(name: string, orgId: string, token: string): grpc.Metadata {
    const md = new grpc.Metadata();
    md.set("satellite_name", name);
    md.set("satellite_org", orgId);
    md.set("satellite_token", token);
    return md;
  }

  /** Health/Check with a deadline; a watchdog well past it catches a call that never ends. */
  call(proxy: number, satelliteId: string, md: grpc.Metadata, deadlineMs: number): Promise<CallRecord> {
    const began = Date.now();
    const client = this.clients[proxy]!;
    return new Promise((resolve) => {
      let done = false;
      const finish = (code: number | "hung", details: string) => {
        if (done) return;
        done = true;
        clearTimeout(watchdog);
        resolve({ kind: "call", satelliteId, proxy, began, servedAt: null, ended: Date.now(), code, details, sent: 1, echoed: 0 });
      };
      const call = client.makeUnaryRequest("/grpc.health.v1.Health/Check", identity, identity, Buffer.alloc(0), md, { deadline: Date.now() + deadlineMs }, (err) => {
        finish(err ? (err.code ?? grpc.status.UNKNOWN) : grpc.status.OK, err?.details ?? "");
      });
      const watchdog = setTimeout(() => {
        finish("hung", `no status ${deadlineMs + 15_000} ms after the call began (deadline ${deadlineMs} ms)`);
        call.cancel();
      }, deadlineMs + 15_000);
    });
  }

  /**
   * A build-like stream: a message every `everyMs` for `lengthMs` after the satellite answers
   * the first, then the client half-closes and expects every echo and OK.
   */
  stream(proxy: number, satelliteId: string, md: grpc.Metadata, opts: { lengthMs: number; everyMs: number; wakeDeadlineMs: number }): Promise<CallRecord> {
    const began = Date.now();
    const client = this.clients[proxy]!;
    return new Promise((resolve) => {
      let done = false;
      let servedAt: number | null = null;
      let sent = 0;
      let echoed = 0;
      let ticker: NodeJS.Timeout | undefined;
      const call = client.makeBidiStreamRequest("/grpc.testing.TestService/FullDuplexCall", identity, identity, md, {});
      const finish = (code: number | "hung", details: string) => {
        if (done) return;
        done = true;
        clearTimeout(watchdog);
        clearInterval(ticker);
        resolve({ kind: "stream", satelliteId, proxy, began, servedAt, ended: Date.now(), code, details, sent, echoed });
      };
      const send = () => {
        sent++;
        call.write(Buffer.from(`build step ${sent}`));
      };
      call.on("data", () => {
        echoed++;
        if (servedAt !== null) return;
        servedAt = Date.now();
        ticker = setInterval(() => {
          if (Date.now() - servedAt! >= opts.lengthMs) {
            clearInterval(ticker);
            call.end();
          } else send();
        }, opts.everyMs);
      });
      call.on("error", (err: grpc.ServiceError) => finish(err.code ?? grpc.status.UNKNOWN, err.details ?? err.message));
      call.on("status", (s: grpc.StatusObject) => {
        if (s.code === grpc.status.OK) finish(echoed === sent ? grpc.status.OK : grpc.status.DATA_LOSS, echoed === sent ? "" : `${sent} messages sent, ${echoed} echoed`);
      });
      // Not served before the wake deadline: the client gives up (its own cancel, not a cut).
      const wakeGiveUp = setTimeout(() => {
        if (servedAt === null && !done) {
          call.cancel();
          finish(grpc.status.DEADLINE_EXCEEDED, "not served within the client's wake deadline");
        }
      }, opts.wakeDeadlineMs);
      wakeGiveUp.unref();
      const watchdog = setTimeout(() => {
        finish("hung", `no status ${opts.wakeDeadlineMs + opts.lengthMs + 20_000} ms after the stream began`);
        call.cancel();
      }, opts.wakeDeadlineMs + opts.lengthMs + 20_000);
      send();
    });
  }
}
