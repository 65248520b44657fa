// The BuildKit address GetSatellite hands the Earthly CLI. The CLI takes 127.0.0.1, ::1 and
// localhost for a BuildKit it runs itself in a container and never dials them as a satellite
// (earthly v0.8, containerutil.IsLocal): an install whose proxy goes by such a name — `npm
// start`'s default, localhost:8372 — would reserve the satellite and then fail with "Is
// installed and running?". Linux routes all of 127.0.0.0/8 to loopback and the proxy listens on
// every address, so 127.0.0.2 reaches the same proxy. With TLS the proxy's certificate names
// the address it is reached at, so that address is left as configured.
const CLI_MANAGED_HOSTS = new Set(["127.0.0.1", "localhost", "::1", "[::1]"]);
const LOOPBACK_FOR_CLI = "127.0.0.2";

export function earthlySatelliteAddress(proxyAddress: string, opts: { tls: boolean; platform?: NodeJS.Platform }): string {
  if (opts.tls || (opts.platform ?? process.platform) !== "linux") return proxyAddress;
  const colon = proxyAddress.lastIndexOf(":");
  if (colon < 0) return proxyAddress;
  return CLI_MANAGED_HOSTS.has(proxyAddress.slice(0, colon).toLowerCase()) ? `${LOOPBACK_FOR_CLI}${proxyAddress.slice(colon)}` : proxyAddress;
}
