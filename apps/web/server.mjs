// The web process: Next.js behind a plain Node HTTP server, so every request carries its TCP
// peer's address (PEER_HEADER in src/server/client-address.ts) and no client can set it.
import { createServer } from "node:http";
import next from "next";

const PEER_HEADER = "x-satellites-peer";
const port = Number(process.env.WEB_PORT || 3000);

const app = next({ dev: false, dir: import.meta.dirname, port });
const handle = app.getRequestHandler();
await app.prepare();

createServer((req, res) => {
  delete req.headers[PEER_HEADER];
  req.headers[PEER_HEADER] = req.socket.remoteAddress ?? "";
  void handle(req, res);
}).listen(port, () => {
  console.log(`web listening on port ${port}`);
});
