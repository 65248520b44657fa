// Promise helpers over the TestService client so tests read as request → outcome.
import * as grpc from "@grpc/grpc-js";
import { createTestServiceClient, type TestServiceClient, type UnaryMethod } from "../src/client.ts";

export type TestClient = TestServiceClient;
export const testClient = (address: string): TestServiceClient => createTestServiceClient(address);

export interface UnaryOutcome<Res> {
  err: grpc.ServiceError | null;
  res: Res | undefined;
  initial: grpc.Metadata | undefined;
  trailing: grpc.Metadata | undefined;
}

/** Runs a unary call to completion, capturing both metadata sets whatever the outcome. */
export function unary<Req, Res>(
  method: UnaryMethod<Req, Res>,
  req: Req,
  metadata = new grpc.Metadata(),
  options: grpc.CallOptions = {},
): Promise<UnaryOutcome<Res>> {
  return new Promise((resolve) => {
    let initial: grpc.Metadata | undefined;
    let result: { err: grpc.ServiceError | null; res: Res | undefined } | undefined;
    let trailing: grpc.Metadata | undefined;
    const settle = (): void => {
      if (result && trailing) resolve({ ...result, initial, trailing });
    };
    const call = method(req, metadata, options, (err, res) => {
      result = { err, res };
      settle();
    });
    call.on("metadata", (md: grpc.Metadata) => (initial = md));
    call.on("status", (s: grpc.StatusObject) => {
      trailing = s.metadata;
      settle();
    });
  });
}

export interface StreamOutcome<Res> {
  messages: Res[];
  status: grpc.StatusObject;
  initial: grpc.Metadata | undefined;
}

/** Collects a response stream until its status arrives. */
export function collect<Res>(stream: grpc.ClientReadableStream<Res> | grpc.ClientDuplexStream<never, Res>): Promise<StreamOutcome<Res>> {
  return new Promise((resolve) => {
    const messages: Res[] = [];
    let initial: grpc.Metadata | undefined;
    stream.on("metadata", (md: grpc.Metadata) => (initial = md));
    stream.on("data", (m: Res) => messages.push(m));
    // Errors also arrive as a status; listening keeps them from being thrown.
    stream.on("error", () => {});
    // grpc-js emits the status as soon as it arrives, possibly before buffered messages have been
    // read; "end" fires only once they all have been (for failed calls too).
    let status: grpc.StatusObject | undefined;
    let ended = false;
    const settle = (): void => {
      if (status && ended) resolve({ messages, status, initial });
    };
    stream.on("status", (s: grpc.StatusObject) => {
      status = s;
      settle();
    });
    stream.on("end", () => {
      ended = true;
      settle();
    });
  });
}

export function bodyLength(m: { payload?: { body?: Uint8Array } | null }): number {
  return m.payload?.body?.length ?? 0;
}
