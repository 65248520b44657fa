// A typed grpc.testing.TestService client over the same system protos the backend serves, for
// tests and benchmarks that talk to a backend directly or through the proxy.
import * as grpc from "@grpc/grpc-js";
import type {
  Empty,
  SimpleRequest,
  SimpleResponse,
  StreamingInputCallRequest,
  StreamingInputCallResponse,
  StreamingOutputCallRequest,
  StreamingOutputCallResponse,
} from "./messages.ts";
import { DEFAULT_PROTO_ROOT, loadTestService } from "./protos.ts";

export type UnaryMethod<Req, Res> = (
  req: Req,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  cb: grpc.requestCallback<Res>,
) => grpc.ClientUnaryCall;

export interface TestServiceClient extends grpc.Client {
  EmptyCall: UnaryMethod<Empty, Empty>;
  UnaryCall: UnaryMethod<SimpleRequest, SimpleResponse>;
  CacheableUnaryCall: UnaryMethod<SimpleRequest, SimpleResponse>;
  UnimplementedCall: UnaryMethod<Empty, Empty>;
  StreamingOutputCall(
    req: StreamingOutputCallRequest,
    metadata?: grpc.Metadata,
    options?: grpc.CallOptions,
  ): grpc.ClientReadableStream<StreamingOutputCallResponse>;
  StreamingInputCall(
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    cb: grpc.requestCallback<StreamingInputCallResponse>,
  ): grpc.ClientWritableStream<StreamingInputCallRequest>;
  FullDuplexCall(
    metadata?: grpc.Metadata,
    options?: grpc.CallOptions,
  ): grpc.ClientDuplexStream<StreamingOutputCallRequest, StreamingOutputCallResponse>;
  HalfDuplexCall(
    metadata?: grpc.Metadata,
    options?: grpc.CallOptions,
  ): grpc.ClientDuplexStream<StreamingOutputCallRequest, StreamingOutputCallResponse>;
}

type ClientCtor = new (
  address: string,
  creds: grpc.ChannelCredentials,
  options: grpc.ChannelOptions,
) => TestServiceClient;

/**
 * An insecure client for `address` (host:port) with unlimited message sizes. Extra channel
 * options are merged over those. Throws if the interop protos are not installed.
 */
export function createTestServiceClient(
  address: string,
  opts: { protoRoot?: string; channelOptions?: grpc.ChannelOptions } = {},
): TestServiceClient {
  const protoRoot = opts.protoRoot ?? DEFAULT_PROTO_ROOT;
  const def = loadTestService(protoRoot);
  if (!def) throw new Error(`no interop protos under ${protoRoot} (install Debian's grpc-proto)`);
  // proto-loader hands back the methods untyped; this is the one place they get a type.
  const Ctor = grpc.makeGenericClientConstructor(def, "TestService") as unknown as ClientCtor;
  return new Ctor(address, grpc.credentials.createInsecure(), {
    "grpc.max_receive_message_length": -1,
    "grpc.max_send_message_length": -1,
    ...opts.channelOptions,
  });
}
