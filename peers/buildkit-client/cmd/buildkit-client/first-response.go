package main

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc/stats"
)

// firstResponse notes when the first bytes of any response (headers, a message or trailers) arrive
// on any call: against an asleep satellite that is the moment the proxy let the build through to
// the woken daemon and the daemon answered, which is what a waiting user feels.
type firstResponse struct {
	mu sync.Mutex
	at time.Time
}

func (f *firstResponse) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (f *firstResponse) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}
func (f *firstResponse) HandleConn(context.Context, stats.ConnStats) {}

func (f *firstResponse) HandleRPC(_ context.Context, s stats.RPCStats) {
	switch s.(type) {
	case *stats.InHeader, *stats.InPayload, *stats.InTrailer:
		f.mu.Lock()
		if f.at.IsZero() {
			f.at = time.Now()
		}
		f.mu.Unlock()
	}
}

// since is the time from t0 to the first response in milliseconds, or -1 when none came.
func (f *firstResponse) since(t0 time.Time) float64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.at.IsZero() {
		return -1
	}
	return float64(f.at.Sub(t0).Microseconds()) / 1000
}
