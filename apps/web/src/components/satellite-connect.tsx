"use client";
// How to reach one satellite: the proxy address, the metadata a client sends, and copyable
// snippets for the Earthly CLI and grpcurl.
import Link from "next/link";
import { type EarthlyConnection, earthlySnippet } from "@/lib/earthly-snippet.ts";
import { Card, CopyField, Snippet } from "./ui.tsx";

export function ConnectCard({ name, orgId, orgSlug, address, earthly: e }: { name: string; orgId: string; orgSlug: string; address: string; earthly: EarthlyConnection }) {
  const earthly = earthlySnippet(name, orgSlug, e);
  const grpcurl = `grpcurl ${e.tls ? "" : "-plaintext "}\\\n  -H 'satellite_name: ${name}' \\\n  -H 'satellite_org: ${orgId}' \\\n  -H "satellite_token: $SATELLITES_TOKEN" \\\n  ${address} grpc.health.v1.Health/Check`;
  return (
    <Card title="Connect" description="Builds reach this satellite through the gRPC proxy; a request wakes it if it is asleep.">
      <dl className="space-y-3">
        <CopyField label="Proxy address" value={address} />
        <CopyField label="Organization id (satellite_org)" value={orgId} />
        <CopyField label="Organization name (EARTHLY_ORG)" value={orgSlug} />
        <CopyField label="Satellite name (satellite_name)" value={name} />
        <div>
          <dt className="text-xs font-medium text-slate-500">Token (satellite_token, EARTHLY_TOKEN)</dt>
          <dd className="mt-1 text-sm text-slate-700">
            An organization API token.{" "}
            <Link href="/tokens" className="font-medium text-indigo-700 hover:underline">
              Create one on the API tokens page
            </Link>
            .
          </dd>
        </div>
      </dl>
      <details className="mt-4 text-sm">
        <summary className="cursor-pointer font-medium text-slate-800">Earthly CLI and grpcurl</summary>
        <p className="mt-2 text-xs text-slate-600">
          The Earthly CLI logs in with the API token, finds the satellite through this install&apos;s Earthly API and wakes it if needed; any gRPC client can instead send the token as metadata.
        </p>
        <div className="mt-2 space-y-2">
          <Snippet label="Earthly CLI (v0.8)" code={earthly} />
          <Snippet label="grpcurl (health check through the proxy)" code={grpcurl} />
        </div>
      </details>
    </Card>
  );
}

