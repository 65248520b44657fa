// The Earthly CLI setup shown on a satellite's page: the same variables, .env and config keys
// the acceptance tests run the real CLI with (docs/earthly-cli.md).
export interface EarthlyConnection {
  serverAddress: string;
  grpcAddress: string;
  tls: boolean;
}

/** The environment the real Earthly CLI (v0.8) needs for this install; docs/earthly-cli.md explains each line. */
export function earthlySnippet(name: string, orgSlug: string, e: EarthlyConnection): string {
  const lines = [
    "# .env next to your Earthfile (the CLI loads it), or export these",
    `EARTHLY_SERVER_ADDRESS=${e.serverAddress}`,
    `EARTHLY_GRPC_ADDRESS=${e.grpcAddress}`,
    ...(e.tls ? [] : ["EARTHLY_GRPC_INSECURE=true"]),
    "# an API token from the API tokens page",
    "EARTHLY_TOKEN=sat_…",
    `EARTHLY_ORG=${orgSlug}`,
    "",
    "# then, in a shell",
    ...(e.tls ? ["# (a private CA: export SSL_CERT_FILE=/path/to/ca.pem)"] : ["earthly config global.tls_enabled false"]),
    "earthly account login",
    "earthly sat ls",
    `earthly --sat ${name} +build`,
  ];
  return lines.join("\n");
}

