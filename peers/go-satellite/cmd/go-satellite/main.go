// A satellite stand-in in Go for bench:wake: grpc-go, the gRPC server BuildKit uses, serving
// grpc.testing.TestService/EmptyCall and grpc.health.v1.Health on --host/--port. It prints
// "listening <host>:<port>" once serving, as the built-in backend does, so the local provider
// runs it unchanged (LOCAL_SATELLITE_COMMAND). A local peer (peers/versions.json): built by
// `npm run peers` against the grpc-go the interop peer pins. With --tls-ca/--tls-cert/--tls-key
// it serves mutual TLS as every satellite does (clients need a certificate from the CA).
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testpb "google.golang.org/grpc/interop/grpc_testing"
)

type testService struct {
	testpb.UnimplementedTestServiceServer
}

func (testService) EmptyCall(context.Context, *testpb.Empty) (*testpb.Empty, error) {
	return &testpb.Empty{}, nil
}

func main() {
	host := flag.String("host", "127.0.0.1", "address to listen on")
	port := flag.Int("port", 0, "port (0: any free one)")
	caFile := flag.String("tls-ca", "", "CA whose client certificates are accepted (mutual TLS)")
	certFile := flag.String("tls-cert", "", "server certificate")
	keyFile := flag.String("tls-key", "", "server key")
	flag.Parse()
	var opts []grpc.ServerOption
	if *caFile != "" {
		opts = append(opts, grpc.Creds(mutualTLS(*caFile, *certFile, *keyFile)))
	}
	lis, err := net.Listen("tcp", net.JoinHostPort(*host, fmt.Sprint(*port)))
	if err != nil {
		fmt.Fprintf(os.Stderr, "go-satellite: %v\n", err)
		os.Exit(1)
	}
	s := grpc.NewServer(opts...)
	testpb.RegisterTestServiceServer(s, testService{})
	healthpb.RegisterHealthServer(s, health.NewServer())
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
		s.GracefulStop()
	}()
	fmt.Printf("listening %s\n", lis.Addr().String())
	if err := s.Serve(lis); err != nil {
		fmt.Fprintf(os.Stderr, "go-satellite: %v\n", err)
		os.Exit(1)
	}
}

func mutualTLS(caFile, certFile, keyFile string) credentials.TransportCredentials {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		fmt.Fprintf(os.Stderr, "go-satellite: %v\n", err)
		os.Exit(2)
	}
	pem, err := os.ReadFile(caFile)
	pool := x509.NewCertPool()
	if err != nil || !pool.AppendCertsFromPEM(pem) {
		fmt.Fprintf(os.Stderr, "go-satellite: cannot read CA %s\n", caFile)
		os.Exit(2)
	}
	return credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{pair}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert})
}
