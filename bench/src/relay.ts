// A bare TCP relay, as its own process: every byte from the client to the backend and back,
// with no HTTP/2 parsing, no authentication and no routing. bench:proxy runs it beside our proxy
// and nginx as the floor a user-space forwarder on this machine can reach.
//   node --import tsx bench/src/relay.ts <backend host:port>   → prints "listening <host:port>"
import net from "node:net";

const [host, port] = (process.argv[2] ?? "").split(":");
const server = net.createServer((client) => {
  client.setNoDelay(true);
  const upstream = net.connect({ host, port: Number(port), noDelay: true });
  client.pipe(upstream);
  upstream.pipe(client);
  client.on("error", () => upstream.destroy());
  upstream.on("error", () => client.destroy());
});
server.listen(0, "127.0.0.1", () => {
  const a = server.address() as net.AddressInfo;
  process.stdout.write(`listening 127.0.0.1:${a.port}\n`);
});
process.on("SIGTERM", () => process.exit(0));
