// buildkit-client: a BuildKit client built on BuildKit's own Go client library
// (github.com/moby/buildkit/client) that sends the satellite metadata on every call, as the
// Earthly CLI does, so tests and benchmarks reach a satellite through the proxy with no forwarder
// in between. It builds a Dockerfile from local folders and exports the result to a folder; the
// last stdout line is one JSON object with its timings.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/moby/buildkit/client"
	"github.com/tonistiigi/fsutil"
	"google.golang.org/grpc"
)

type options struct {
	addr, caCert, cert, key, serverName string
	satellite                           map[string]string
	context, dockerfile, output         string
}

func parseFlags() options {
	var o options
	flag.StringVar(&o.addr, "addr", "", "BuildKit address, e.g. tcp://127.0.0.1:8372")
	flag.StringVar(&o.caCert, "tlscacert", "", "CA certificate to verify the server (enables TLS)")
	flag.StringVar(&o.cert, "tlscert", "", "client certificate")
	flag.StringVar(&o.key, "tlskey", "", "client key")
	flag.StringVar(&o.serverName, "tlsservername", "", "server name to verify")
	name := flag.String("satellite-name", "", "satellite_name metadata")
	org := flag.String("satellite-org", "", "satellite_org metadata")
	token := flag.String("satellite-token", "", "satellite_token metadata")
	flag.StringVar(&o.context, "context", ".", "build context folder")
	flag.StringVar(&o.dockerfile, "dockerfile", "", "folder holding the Dockerfile (default: the context)")
	flag.StringVar(&o.output, "output", "", "folder to export the result to (required)")
	flag.Parse()
	o.satellite = map[string]string{"satellite_name": *name, "satellite_org": *org, "satellite_token": *token}
	if o.dockerfile == "" {
		o.dockerfile = o.context
	}
	return o
}

func connect(ctx context.Context, o options, first *firstResponse) (*client.Client, error) {
	opts := []client.ClientOpt{client.WithGRPCDialOption(grpc.WithStatsHandler(first))}
	for _, d := range satelliteMetadata(o.satellite) {
		opts = append(opts, client.WithGRPCDialOption(d))
	}
	if o.caCert != "" {
		opts = append(opts, client.WithServerConfig(o.serverName, o.caCert))
	}
	if o.cert != "" {
		opts = append(opts, client.WithCredentials(o.cert, o.key))
	}
	return client.New(ctx, o.addr, opts...)
}

func build(ctx context.Context, c *client.Client, o options) error {
	contextFS, err := fsutil.NewFS(o.context)
	if err != nil {
		return err
	}
	dockerfileFS, err := fsutil.NewFS(o.dockerfile)
	if err != nil {
		return err
	}
	ch := make(chan *client.SolveStatus)
	printed := make(chan struct{})
	go func() { printProgress(os.Stderr, ch); close(printed) }()
	_, err = c.Solve(ctx, nil, client.SolveOpt{
		Frontend:    "dockerfile.v0",
		LocalMounts: map[string]fsutil.FS{"context": contextFS, "dockerfile": dockerfileFS},
		Exports:     []client.ExportEntry{{Type: client.ExporterLocal, OutputDir: o.output}},
	}, ch)
	<-printed
	return err
}

func main() {
	o := parseFlags()
	if o.addr == "" || o.output == "" {
		fmt.Fprintln(os.Stderr, "usage: buildkit-client --addr tcp://HOST:PORT --output DIR [--context DIR] [--satellite-name N --satellite-org O --satellite-token T] [--tlscacert F --tlscert F --tlskey F --tlsservername S]")
		os.Exit(2)
	}
	ctx := context.Background()
	first := &firstResponse{}
	c, err := connect(ctx, o, first)
	if err != nil {
		fmt.Fprintf(os.Stderr, "connect: %v\n", err)
		os.Exit(1)
	}
	defer c.Close()
	t0 := time.Now()
	if err := build(ctx, c, o); err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n", err)
		os.Exit(1)
	}
	out, _ := json.Marshal(map[string]float64{
		// The wall clock at the start, for lining the timings up with the product's own records.
		"started_unix_ms":   float64(t0.UnixMicro()) / 1000,
		"first_response_ms": first.since(t0),
		"total_ms":          float64(time.Since(t0).Microseconds()) / 1000,
	})
	fmt.Println(string(out))
}
