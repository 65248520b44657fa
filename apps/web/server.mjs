// The web process: Next.js behind a plain Node HTTP server, so every request carries its TCP
// peer's address (PEER_HEADER in src/server/client-address.ts) and no client can set it.
import { createServer } from "node:http";
import next from "next";
import { tsImport } from "tsx/esm/api";

// Every setting checked before anything starts: a bad value stops the process here with one
// line and exit code 78, as the proxy and jobs do (Next.js would read them at the first request).
const { loadConfigOrExit } = await tsImport("@satellites/config", import.meta.url);
loadConfigOrExit();

const PEER_HEADER = "x-satellites-peer";
const port = Number(process.env.WEB_PORT || 3000);
// Browsers remember HSTS; only an https PUBLIC_URL may ask for it (next.config.ts sets the rest).
const hsts = /^https:/i.test(process.env.PUBLIC_URL ?? "") ? "max-age=63072000; includeSubDomains" : null;

const app = next({ dev: false, dir: import.meta.dirname, port });
const handle = app.getRequestHandler();
await app.prepare();

createServer((req, res) => {
  delete req.headers[PEER_HEADER];
  req.headers[PEER_HEADER] = req.socket.remoteAddress ?? "";
  if (hsts) res.setHeader("strict-transport-security", hsts);
  void handle(req, res);
}).listen(port, () => {
  console.log(`web listening on port ${port}`);
});
