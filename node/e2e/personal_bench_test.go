package e2e

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
	"github.com/govnode/govnode/proto/govnode/v1/govnodev1connect"
)

// BenchmarkRecordRead is the read latency that putting every read of
// protected content on chain adds, on the four-process network with TLS
// (docs/BENCHMARKS.md, "Protected reads"):
//
//	public              QueryRecord of a land title with its versions (content included), anonymous
//	protected           QueryRecord of a birth certificate with include_content, by its subject:
//	                    one RecordAccesses tx committed before each answer
//	protected-parallel  the same from 16 callers at once: concurrent releases share a tx
//
// Every read goes to node1, which neither issued the records nor leads
// view 0's blocks. p50 and p99 are per read; ns/op in protected-parallel
// is wall time over reads (the inverse of throughput).
//
//	go test ./node/e2e -run '^$' -bench RecordRead -benchtime 200x
func BenchmarkRecordRead(b *testing.B) {
	c := newClusterWith(b, 4, "crash", clusterOpts{tls: true})
	subject := c.accounts()[0]
	issuer := c.official(0)
	c.commit(0, c.signTx(issuer, &pb.TxBody{Action: &pb.TxBody_CreateRecord{CreateRecord: &pb.CreateRecord{
		RecordId: "lt-bench", RecordType: "land_title", SubjectId: subject.id, Content: []byte("plot 42, 600 m2"), ContentType: "text/plain",
	}}}))
	salt, err := crypto.NewPayloadSalt()
	if err != nil {
		b.Fatal(err)
	}
	content := []byte("birth certificate of account0, born 1990-01-01")
	c.commit(0, c.signTx(issuer, &pb.TxBody{Action: &pb.TxBody_CreateRecord{CreateRecord: &pb.CreateRecord{
		RecordId: "bc-bench", RecordType: "birth_certificate", SubjectId: subject.id,
		ContentHash: c.suite.PayloadCommitment(salt, content), ContentType: "text/plain",
	}}}), &pb.Payload{Salt: salt, Content: content})
	anon := c.clients[1]
	as := c.clientAs(1, subject.id, subject.key)
	report := func(b *testing.B, lat []time.Duration) {
		slices.Sort(lat)
		q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / 1e6 }
		b.ReportMetric(q(0.5), "p50-ms")
		b.ReportMetric(q(0.99), "p99-ms")
	}
	read := func(cl govnodev1connect.NodeServiceClient, r *pb.QueryRecordRequest) (time.Duration, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		start := time.Now()
		resp, err := cl.QueryRecord(ctx, connect.NewRequest(r))
		if err != nil {
			return 0, fmt.Errorf("QueryRecord %s: %w", r.GetRecordId(), err)
		}
		if r.GetIncludeContent() && len(resp.Msg.GetContents()) != 1 {
			return 0, fmt.Errorf("no content: %v", resp.Msg)
		}
		return time.Since(start), nil
	}
	serial := func(b *testing.B, cl govnodev1connect.NodeServiceClient, r *pb.QueryRecordRequest) {
		lat := make([]time.Duration, 0, b.N)
		for range b.N {
			d, err := read(cl, r)
			if err != nil {
				b.Fatal(err)
			}
			lat = append(lat, d)
		}
		report(b, lat)
	}
	public := &pb.QueryRecordRequest{RecordId: "lt-bench", WithVersions: true}
	protected := &pb.QueryRecordRequest{RecordId: "bc-bench", IncludeContent: true, Purpose: "benchmark"}
	b.Run("public", func(b *testing.B) { serial(b, anon, public) })
	b.Run("protected", func(b *testing.B) { serial(b, as, protected) })
	b.Run("protected-parallel", func(b *testing.B) {
		const callers = 16
		var mu sync.Mutex
		var errs []error
		lat := make([]time.Duration, 0, b.N)
		next := make(chan struct{}, b.N)
		for range b.N {
			next <- struct{}{}
		}
		close(next)
		var wg sync.WaitGroup
		b.ResetTimer()
		for range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range next {
					d, err := read(as, protected)
					mu.Lock()
					if err != nil {
						errs = append(errs, err)
					}
					lat = append(lat, d)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		b.StopTimer()
		if len(errs) > 0 {
			b.Fatalf("%d of %d reads failed, first: %v", len(errs), b.N, errs[0])
		}
		report(b, lat)
	})
}
