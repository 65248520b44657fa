import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/** Folder holding our own wire-compatible definitions of Earthly's cloud API. */
export const protoRoot = fileURLToPath(new URL('../proto', import.meta.url));

/** Every .proto we serve or read, relative to protoRoot. */
export const protoFiles = [
  'api/public/compute/compute.proto',
  'api/public/billing/billing.proto',
  'api/public/logstream/logstream.proto',
  'api/public/analytics/analytics.proto',
  'api/public/secrets/account.proto',
] as const;

// Options chosen so handlers see proto field names, enums as numbers and
// 64-bit numbers as strings (Duration/Timestamp seconds).
const loaderOptions: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: Number,
  defaults: true,
  oneofs: true,
  includeDirs: [protoRoot],
};

export interface EarthlyServices {
  Compute: grpc.ServiceClientConstructor;
  Billing: grpc.ServiceClientConstructor;
  LogStream: grpc.ServiceClientConstructor;
  Analytics: grpc.ServiceClientConstructor;
}

let loaded: EarthlyServices | undefined;

/** The service definitions (also client constructors, for tests and benches). */
export function loadEarthlyServices(): EarthlyServices {
  if (loaded) return loaded;
  const definition = protoLoader.loadSync([...protoFiles], loaderOptions);
  const root = grpc.loadPackageDefinition(definition) as unknown as {
    api: { public: Record<string, Record<string, grpc.ServiceClientConstructor>> };
  };
  const pub = root.api.public;
  loaded = {
    Compute: pub.compute!.Compute!,
    Billing: pub.billing!.Billing!,
    LogStream: pub.logstream!.LogStream!,
    Analytics: pub.analytics!.Analytics!,
  };
  return loaded;
}
