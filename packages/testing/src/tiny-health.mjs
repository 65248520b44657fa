// A minimal gRPC health server for tests that need many satellites at once (storms, races):
// plain node:http2, no dependencies, starts in a few milliseconds and a few MiB, so a hundred
// fit on two cores. Answers grpc.health.v1.Health/Check with SERVING; anything else with
// UNIMPLEMENTED — except grpc.testing.TestService/FullDuplexCall, which echoes the request's
// bytes (whole gRPC messages, so the framing stays valid) and ends OK when the client is done:
// a long build-like stream for lifecycle tests. Usage: node tiny-health.mjs --host H --port P [--tls-ca F --tls-cert F --tls-key F]
// With the TLS files it serves mutual TLS (clients need a certificate from the CA), as every
// satellite behind the proxy and the jobs' probe must.
import { readFileSync } from "node:fs";
import http2 from "node:http2";

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const host = arg("host", "127.0.0.1");
const port = Number(arg("port", "0"));
// HealthCheckResponse { status: SERVING (1) } framed as one uncompressed gRPC message.
const SERVING = Buffer.from([0, 0, 0, 0, 2, 0x08, 0x01]);

const tlsCa = arg("tls-ca", undefined);
const server = tlsCa
  ? http2.createSecureServer({ ca: readFileSync(tlsCa), cert: readFileSync(arg("tls-cert")), key: readFileSync(arg("tls-key")), requestCert: true, rejectUnauthorized: true })
  : http2.createServer();
server.on("stream", (stream, headers) => {
  stream.on("error", () => {});
  if (headers[":path"] === "/grpc.testing.TestService/FullDuplexCall") {
    stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
    stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
    stream.pipe(stream);
    return;
  }
  stream.resume();
  stream.on("end", () => {
    if (headers[":path"] === "/grpc.health.v1.Health/Check") {
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      stream.end(SERVING);
    } else {
      stream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": "12", "grpc-message": "unimplemented" }, { endStream: true });
    }
  });
});
server.listen(port, host, () => {
  const a = server.address();
  process.stdout.write(`listening ${host}:${typeof a === "object" && a ? a.port : port}\n`);
});
const stop = () => server.close(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
