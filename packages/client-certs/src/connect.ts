// The three ready-to-paste client setups for a satellite reached with a client certificate:
// EarthBuild, docker buildx (remote driver) and buildctl. One source for the satellite page's
// "Connect" card, docs/clients.md and the tests, which run these lines verbatim in a shell.
// Pure (no server code): the browser imports it too.

/** Where the Connect card tells people to save the bundle's files. */
export function bundleDir(satellite: string): string {
  return `$HOME/.satellites/${satellite}`;
}

export const BUNDLE_FILES = { ca: "ca.pem", cert: "client.pem", key: "client-key.pem" } as const;

export interface ConnectTarget {
  /** host:port of the proxy, as clients reach it. */
  address: string;
  /** The satellite's name (also the buildx builder's and the EarthBuild config file's name). */
  satellite: string;
}

export interface ClientSetups {
  /** Saving the bundle's three files where the other setups expect them. */
  files: string;
  earthbuild: string;
  buildx: string;
  buildctl: string;
}

function paths(satellite: string) {
  const dir = bundleDir(satellite);
  return { dir, ca: `${dir}/${BUNDLE_FILES.ca}`, cert: `${dir}/${BUNDLE_FILES.cert}`, key: `${dir}/${BUNDLE_FILES.key}` };
}

export function clientSetups({ address, satellite }: ConnectTarget): ClientSetups {
  if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(satellite)) throw new RangeError(`not a satellite name: ${JSON.stringify(satellite)}`);
  if (!/^[A-Za-z0-9.:[\]-]+:\d{1,5}$/.test(address)) throw new RangeError(`not a host:port address: ${JSON.stringify(address)}`);
  const p = paths(satellite);
  const files = [
    `# the bundle's three files (shown once when the certificate is issued)`,
    `mkdir -p ${p.dir} && chmod 700 ${p.dir}`,
    `mv ${BUNDLE_FILES.ca} ${BUNDLE_FILES.cert} ${BUNDLE_FILES.key} ${p.dir}/`,
    `chmod 600 ${p.key}`,
  ].join("\n");
  const earthbuild = [
    `# EarthBuild (earth; ~/.earthly and the earthly binary before v0.8.19): a config of its own for this satellite`,
    `mkdir -p $HOME/.earth`,
    `cat > $HOME/.earth/${satellite}.yml <<EOF`,
    `global:`,
    `  buildkit_host: tcp://${address}`,
    `  tls_enabled: true`,
    `  tlsca: ${p.ca}`,
    `  tlscert: ${p.cert}`,
    `  tlskey: ${p.key}`,
    `EOF`,
    `# --buildkit-host too: without Docker or Podman on the machine, EarthBuild ignores buildkit_host in the config`,
    `earth --config $HOME/.earth/${satellite}.yml --buildkit-host tcp://${address} +build`,
  ].join("\n");
  const buildx = [
    `docker buildx create --name ${satellite} --driver remote \\`,
    `  --driver-opt cacert=${p.ca},cert=${p.cert},key=${p.key} \\`,
    `  tcp://${address}`,
    `docker buildx --builder ${satellite} build --output type=local,dest=out .`,
  ].join("\n");
  const buildctl = [
    `buildctl --addr tcp://${address} \\`,
    `  --tlscacert ${p.ca} --tlscert ${p.cert} --tlskey ${p.key} \\`,
    `  build --frontend dockerfile.v0 --local context=. --local dockerfile=. --output type=local,dest=out`,
  ].join("\n");
  return { files, earthbuild, buildx, buildctl };
}
