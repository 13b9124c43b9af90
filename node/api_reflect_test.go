package node_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpcreflect"

	"github.com/govnode/govnode/node/api"
	"github.com/govnode/govnode/node/nodetest"
)

// One server reflection stream answers at most api.MaxReflectionRequests
// requests, then ends with resource_exhausted: the gate charges a stream
// once, and it lived until the read timeout answering as fast as the
// caller asked. A new stream answers again.
func TestReflectionStreamBounded(t *testing.T) {
	c := nodetest.NewChain(t, nodetest.Options{})
	n := c.Start(t)
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: p}
	t.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: tr}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	rc := grpcreflect.NewClient(hc, n.URL)
	stream := rc.NewStream(ctx)
	for i := range api.MaxReflectionRequests {
		if _, err := stream.ListServices(); err != nil {
			t.Fatalf("request %d of the stream: %v", i+1, err)
		}
	}
	if _, err := stream.ListServices(); connect.CodeOf(err) != connect.CodeResourceExhausted {
		t.Fatalf("request %d of one stream: %v, want resource_exhausted", api.MaxReflectionRequests+1, err)
	}
	_, _ = stream.Close()
	again := rc.NewStream(ctx)
	defer again.Close()
	if names, err := again.ListServices(); err != nil || len(names) == 0 {
		t.Fatalf("a new stream: %v %v", names, err)
	}
}
