// A build's first call, as the Earthly CLI makes it: gRPC to the proxy with satellite_name,
// satellite_org and satellite_token metadata. The health service is answered by the satellite.
import * as grpc from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";

interface HealthClient extends grpc.Client {
  Check(req: { service: string }, md: grpc.Metadata, opts: grpc.CallOptions, cb: grpc.requestCallback<{ status?: string }>): grpc.ClientUnaryCall;
}
const Ctor = grpc.makeGenericClientConstructor(healthService, "grpc.health.v1.Health") as unknown as new (address: string, creds: grpc.ChannelCredentials, opts: grpc.ChannelOptions) => HealthClient;

export interface CallResult {
  ok: boolean;
  status?: string;
  code?: grpc.status;
  codeName?: string;
  details?: string;
}

export async function healthThroughProxy(address: string, meta: { name: string; org: string; token: string }, timeoutMs = 90_000): Promise<CallResult> {
  const client = new Ctor(address, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 });
  const md = new grpc.Metadata();
  md.set("satellite_name", meta.name);
  md.set("satellite_org", meta.org);
  md.set("satellite_token", meta.token);
  try {
    return await new Promise<CallResult>((resolve) => {
      client.Check({ service: "" }, md, { deadline: Date.now() + timeoutMs }, (err, res) => {
        if (err) resolve({ ok: false, code: err.code, codeName: grpc.status[err.code], details: err.details });
        else resolve({ ok: true, status: res?.status });
      });
    });
  } finally {
    client.close();
  }
}
