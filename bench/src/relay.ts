// A bare relay, as its own process: every byte from the client to the backend and back, with no
// HTTP/2 parsing, no authentication and no routing. bench:proxy runs it beside our proxy and
// nginx as the floor a user-space forwarder on this machine can reach; bench:build and
// bench:earthly run it in front of a satellite's daemon, which takes mutual TLS only, so there it
// opens the hop's TLS as the proxy does (--tls-dir: ca.pem, cert.pem, key.pem, read at start).
//   node --import tsx bench/src/relay.ts <backend host:port> [--tls-dir DIR --servername NAME] [--host HOST]
//   → prints "listening <host:port>"
import { readFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import tls from "node:tls";
import { parseArgs } from "node:util";

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { "tls-dir": { type: "string" }, servername: { type: "string" }, host: { type: "string", default: "127.0.0.1" } },
});
const [host, port] = (positionals[0] ?? "").split(":");
const dir = values["tls-dir"];
const hop = dir && {
  ca: readFileSync(join(dir, "ca.pem")),
  cert: readFileSync(join(dir, "cert.pem")),
  key: readFileSync(join(dir, "key.pem")),
  servername: values.servername,
  ALPNProtocols: ["h2"],
};
const connect = (): net.Socket => (hop ? tls.connect({ host, port: Number(port), ...hop }) : net.connect({ host, port: Number(port) }));

const server = net.createServer((client) => {
  client.setNoDelay(true);
  const upstream = connect();
  upstream.setNoDelay(true);
  client.pipe(upstream);
  upstream.pipe(client);
  client.on("error", () => upstream.destroy());
  upstream.on("error", () => client.destroy());
});
server.listen(0, values.host, () => {
  const a = server.address() as net.AddressInfo;
  process.stdout.write(`listening ${a.address}:${a.port}\n`);
});
process.on("SIGTERM", () => process.exit(0));
