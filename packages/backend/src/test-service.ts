// grpc.testing.TestService with the gRPC interop-test semantics. Benchmarks measure the proxy
// against this, so handlers do the minimum: no logging, no per-call allocations beyond replies.
import * as grpc from "@grpc/grpc-js";
import { echoMetadata } from "./echo-metadata.ts";
import type {
  Empty,
  SimpleRequest,
  SimpleResponse,
  StreamingInputCallRequest,
  StreamingInputCallResponse,
  StreamingOutputCallRequest,
  StreamingOutputCallResponse,
} from "./messages.ts";
import { requestedFailure, zeroPayload } from "./messages.ts";
import { ResponsePacer } from "./response-pacer.ts";

function emptyCall(call: grpc.ServerUnaryCall<Empty, Empty>, callback: grpc.sendUnaryData<Empty>): void {
  const trailer = echoMetadata(call);
  callback(null, {}, trailer);
}

function unaryCall(
  call: grpc.ServerUnaryCall<SimpleRequest, SimpleResponse>,
  callback: grpc.sendUnaryData<SimpleResponse>,
): void {
  const trailer = echoMetadata(call);
  const failure = requestedFailure(call.request.response_status);
  if (failure) {
    callback({ ...failure, metadata: trailer }, null, trailer);
    return;
  }
  callback(null, { payload: zeroPayload(call.request.response_size) }, trailer);
}

function streamingOutputCall(
  call: grpc.ServerWritableStream<StreamingOutputCallRequest, StreamingOutputCallResponse>,
): void {
  const pacer = new ResponsePacer(call, echoMetadata(call));
  pacer.push(call.request.response_parameters);
  pacer.finish(call.request.response_status);
}

function streamingInputCall(
  call: grpc.ServerReadableStream<StreamingInputCallRequest, StreamingInputCallResponse>,
  callback: grpc.sendUnaryData<StreamingInputCallResponse>,
): void {
  const trailer = echoMetadata(call);
  let total = 0;
  call.on("data", (req: StreamingInputCallRequest) => {
    total += req.payload?.body?.length ?? 0;
  });
  call.on("end", () => callback(null, { aggregated_payload_size: total }, trailer));
}

function fullDuplexCall(call: grpc.ServerDuplexStream<StreamingOutputCallRequest, StreamingOutputCallResponse>): void {
  const pacer = new ResponsePacer(call, echoMetadata(call));
  call.on("data", (req: StreamingOutputCallRequest) => {
    // A request asking for a status ends the call with it, after the responses already queued.
    if (requestedFailure(req.response_status)) pacer.finish(req.response_status);
    else pacer.push(req.response_parameters);
  });
  call.on("end", () => pacer.finish());
}

function halfDuplexCall(call: grpc.ServerDuplexStream<StreamingOutputCallRequest, StreamingOutputCallResponse>): void {
  const pacer = new ResponsePacer(call, echoMetadata(call));
  const requests: StreamingOutputCallRequest[] = [];
  call.on("data", (req: StreamingOutputCallRequest) => requests.push(req));
  call.on("end", () => {
    let status: StreamingOutputCallRequest["response_status"];
    for (const req of requests) {
      if (requestedFailure(req.response_status)) {
        status = req.response_status;
        break;
      }
      pacer.push(req.response_parameters);
    }
    pacer.finish(status);
  });
}

function unimplementedCall(_call: grpc.ServerUnaryCall<Empty, Empty>, callback: grpc.sendUnaryData<Empty>): void {
  callback({ code: grpc.status.UNIMPLEMENTED, details: "UnimplementedCall is not implemented, on purpose" });
}

export const testServiceHandlers: grpc.UntypedServiceImplementation = {
  EmptyCall: emptyCall,
  UnaryCall: unaryCall,
  CacheableUnaryCall: unaryCall,
  StreamingOutputCall: streamingOutputCall,
  StreamingInputCall: streamingInputCall,
  FullDuplexCall: fullDuplexCall,
  HalfDuplexCall: halfDuplexCall,
  UnimplementedCall: unimplementedCall,
};
