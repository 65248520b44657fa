// nginx with grpc_pass as the reference proxy: installed from Debian when missing, run in the
// foreground as a single process with a throwaway prefix, so it leaves nothing behind.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { aptInstall, type Child, freePort, start, waitFor, which } from "./harness.ts";
import net from "node:net";

export function ensureNginx(): string {
  let bin = which("nginx");
  if (bin) return bin;
  aptInstall(["nginx-light"], "nginx not found");
  bin = which("nginx");
  if (!bin) throw new Error("nginx-light installed but no nginx binary found");
  return bin;
}

export async function startNginx(upstream: string): Promise<{ child: Child; port: number; cleanup(): void }> {
  const bin = ensureNginx();
  const dir = mkdtempSync(join(tmpdir(), "satellites-nginx-"));
  const port = await freePort();
  const conf = `
daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  client_max_body_size 0;
  upstream satellite {
    server ${upstream};
    keepalive 128;
    keepalive_requests 100000000;
  }
  server {
    listen 127.0.0.1:${port} http2;
    http2_max_concurrent_streams 1000;
    keepalive_requests 100000000;
    location / {
      grpc_pass grpc://satellite;
      grpc_read_timeout 300s;
      grpc_send_timeout 300s;
    }
  }
}
`;
  writeFileSync(join(dir, "nginx.conf"), conf);
  const child = start(bin, ["-p", dir, "-c", join(dir, "nginx.conf"), "-e", join(dir, "error.log")], {}, "nginx");
  await waitFor("nginx to listen", () => new Promise<boolean>((resolve) => {
    const s = net.connect(port, "127.0.0.1", () => {
      s.destroy();
      resolve(true);
    });
    s.on("error", () => resolve(false));
  }));
  return { child, port, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
