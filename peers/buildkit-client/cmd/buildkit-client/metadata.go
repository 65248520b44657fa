package main

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// satelliteMetadata adds the satellite's name, org and token to every call, unary and streaming
// (Solve, Status, the Session stream the daemon calls back through), the way the Earthly CLI
// does with its own interceptors: the proxy routes and authorizes each call by these keys.
func satelliteMetadata(pairs map[string]string) []grpc.DialOption {
	kv := make([]string, 0, 2*len(pairs))
	for k, v := range pairs {
		if v != "" {
			kv = append(kv, k, v)
		}
	}
	with := func(ctx context.Context) context.Context { return metadata.AppendToOutgoingContext(ctx, kv...) }
	unary := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		return invoker(with(ctx), method, req, reply, cc, opts...)
	}
	stream := func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		return streamer(with(ctx), desc, cc, method, opts...)
	}
	return []grpc.DialOption{grpc.WithChainUnaryInterceptor(unary), grpc.WithChainStreamInterceptor(stream)}
}
