package p2p_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/govnode/govnode/p2p"
	"github.com/govnode/govnode/p2p/p2ptest"
	pb "github.com/govnode/govnode/proto/govnode/v1"
	"google.golang.org/protobuf/proto"
)

// BenchmarkDirect measures the direct protocol's tx path between 4
// members on loopback, over QUIC and over TCP (Noise, yamux): member 0
// sends txs (SendTx: batched, one frame per member per flush), members 1-3
// receive them through their tx validators.
//
//   - window=1: send, wait until all three have the tx, repeat; ns/op is
//     the fan-out latency, which includes the batcher's shortest window.
//   - window=256: keep up to 256 txs in flight; msgs/s is the sustained
//     throughput, p50/p99 the latency under that load.
//
// It replaces BenchmarkGossip (gossipsub, one message per tx); both
// report msgs/s and p50/p99 the same way.
//
// Run: go test ./p2p -run '^$' -bench BenchmarkDirect -benchtime 3s
func BenchmarkDirect(b *testing.B) {
	for _, transport := range []string{p2ptest.QUIC, p2ptest.TCP} {
		name := "tcp"
		if strings.HasSuffix(transport, "quic-v1") {
			name = "quic"
		}
		for _, size := range []int{256, 4096} {
			for _, window := range []int{1, 256} {
				b.Run(fmt.Sprintf("%s/size=%d/window=%d", name, size, window), func(b *testing.B) {
					benchDirect(b, transport, size, window)
				})
			}
		}
	}
}

func benchDirect(b *testing.B, transport string, size, window int) {
	nw := p2ptest.NewNetwork(b, 4, 1000)
	nw.Listen = []string{transport}
	for i := range nw.Validators {
		cfg := nw.Config(i)
		cfg.MessageBuffer = 4096
		cfg.PingInterval = time.Minute
		nw.Start(i, cfg)
	}
	nw.WaitConnected(20 * time.Second)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const receivers = 3
	var (
		received [receivers]atomic.Int64
		notify   = make(chan struct{}, 1)
		latMu    sync.Mutex
		lats     []time.Duration
		wg       sync.WaitGroup
	)
	for r := range receivers {
		ch := nw.Nodes[r+1].Messages(p2p.TopicTx)
		wg.Go(func() {
			var local []time.Duration
			defer func() {
				latMu.Lock()
				lats = append(lats, local...)
				latMu.Unlock()
			}()
			for {
				select {
				case <-ctx.Done():
					return
				case m := <-ch:
					var tx pb.SignedTx
					if err := proto.Unmarshal(m.Data, &tx); err != nil {
						panic(err)
					}
					sent := int64(binary.BigEndian.Uint64(tx.GetBody()[8:]))
					local = append(local, time.Duration(time.Now().UnixNano()-sent))
					received[r].Add(1)
					select {
					case notify <- struct{}{}:
					default:
					}
				}
			}
		})
	}
	minReceived := func() int64 {
		m := received[0].Load()
		for r := 1; r < receivers; r++ {
			m = min(m, received[r].Load())
		}
		return m
	}
	waitUntil := func(n int64) {
		for minReceived() < n {
			select {
			case <-notify:
			case <-time.After(10 * time.Second):
				b.Fatalf("stalled at %d of %d; publisher stats %+v", minReceived(), n, nw.Nodes[0].Stats())
			}
		}
	}

	body := make([]byte, size)
	b.SetBytes(int64(size))
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if int64(i)-minReceived() >= int64(window) {
			waitUntil(int64(i - window + 1))
		}
		binary.BigEndian.PutUint64(body[0:], uint64(i))
		binary.BigEndian.PutUint64(body[8:], uint64(time.Now().UnixNano()))
		data, _ := proto.Marshal(&pb.SignedTx{Body: body, Signature: body[:64]})
		if err := nw.Nodes[0].SendTx(data); err != nil {
			b.Fatal(err)
		}
	}
	waitUntil(int64(b.N))
	elapsed := time.Since(start)
	b.StopTimer()
	cancel()
	wg.Wait()

	slices.Sort(lats)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(lats[len(lats)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lats[len(lats)*99/100].Microseconds()), "p99-µs")
	for i, n := range nw.Nodes {
		if st := n.Stats(); st.Tx.Dropped > 0 || st.FramesDropped > 0 || st.TxsDropped > 0 {
			b.Logf("node %d dropped %d deliveries, %d frames, %d txs", i, st.Tx.Dropped, st.FramesDropped, st.TxsDropped)
		}
	}
}
