// The built-in satellite backend: gRPC health plus the interop TestService on one port.
import * as grpc from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import { DEFAULT_PROTO_ROOT, TEST_SERVICE_NAME, loadTestService } from "./protos.ts";
import { testServiceHandlers } from "./test-service.ts";
import { LIST_WORKERS, listWorkersHandler } from "./worker-labels.ts";

export interface BackendOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  /** Where grpc/testing/test.proto lives; default /usr/share/grpc-proto. */
  protoRoot?: string;
  /** One-line operational notices; default stderr. */
  log?: (line: string) => void;
  /**
   * Serve TLS with this certificate and require every client to present a certificate signed by
   * `caPem` (the control plane's CA): the proxy→satellite hop is mutual TLS. PEM strings.
   */
  tls?: { caPem: string; certPem: string; keyPem: string };
  /**
   * Serve BuildKit's Control/ListWorkers with one worker carrying these labels, as a daemon
   * configured with them does (an emulated EC2 machine says which user-data it runs with).
   */
  workerLabels?: Record<string, string>;
}

export interface Backend {
  host: string;
  port: number;
  /** host:port, IPv6 hosts bracketed; usable as a gRPC target. */
  address: string;
  /** Stops accepting calls, lets running ones finish for up to `graceMs` (default 2000), then cuts them. */
  close(opts?: { graceMs?: number }): Promise<void>;
}

const SERVER_OPTIONS: grpc.ServerOptions = {
  // Builds push large artifacts through the proxy; the backend must never be the limit.
  "grpc.max_receive_message_length": -1,
  "grpc.max_send_message_length": -1,
};

function hostPort(host: string, port: number): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]:${port}` : `${host}:${port}`;
}

function credentials(tls: BackendOptions["tls"]): grpc.ServerCredentials {
  if (!tls) return grpc.ServerCredentials.createInsecure();
  const pair = [{ cert_chain: Buffer.from(tls.certPem), private_key: Buffer.from(tls.keyPem) }];
  // checkClientCertificate: a client without a certificate from the CA fails the handshake.
  return grpc.ServerCredentials.createSsl(Buffer.from(tls.caPem), pair, true);
}

function bind(server: grpc.Server, target: string, creds: grpc.ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(target, creds, (err, port) => {
      if (err) reject(err);
      else resolve(port);
    });
  });
}

export async function startBackend(opts: BackendOptions = {}): Promise<Backend> {
  const host = opts.host ?? "127.0.0.1";
  const protoRoot = opts.protoRoot ?? DEFAULT_PROTO_ROOT;
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));

  const server = new grpc.Server(SERVER_OPTIONS);
  const testService = loadTestService(protoRoot);
  const health = new HealthImplementation({ "": "SERVING" });
  if (testService) {
    server.addService(testService, testServiceHandlers);
    health.setStatus(TEST_SERVICE_NAME, "SERVING");
  } else {
    log(`backend: no interop protos under ${protoRoot} (install Debian's grpc-proto); serving health only`);
  }
  health.addToServer(server);
  if (opts.workerLabels) {
    const passBytes = (b: Buffer): Buffer => b;
    server.register(LIST_WORKERS, listWorkersHandler([{ id: "backend", labels: opts.workerLabels }]), passBytes, passBytes, "unary");
  }

  let port: number;
  try {
    port = await bind(server, hostPort(host, opts.port ?? 0), credentials(opts.tls));
  } catch (err) {
    server.forceShutdown();
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(`cannot listen on ${hostPort(host, opts.port ?? 0)}: ${reason}`, { cause: err });
  }

  let closing: Promise<void> | undefined;
  const close = ({ graceMs = 2000 }: { graceMs?: number } = {}): Promise<void> =>
    (closing ??= new Promise<void>((resolve) => {
      // Watchers (e.g. a proxy's health Watch) hear about it before the connection goes away.
      health.setStatus("", "NOT_SERVING");
      if (testService) health.setStatus(TEST_SERVICE_NAME, "NOT_SERVING");
      const force = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, graceMs);
      server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    }));

  return { host, port, address: hostPort(host, port), close };
}
