package store_test

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/govnode/govnode/ledger/state"
	"github.com/govnode/govnode/ledger/store"
)

// Benchmarks (issue "Ledger storage", item 5):
//
//	go test ./ledger/store -run '^$' -bench . -benchtime 40x -bench.states=10000,100000,1000000
//
// BenchmarkCommit1000Tx commits blocks of 1,000 transactions of 250 bytes,
// each with 3 state writes (2 updates of existing keys, 1 new key), a
// result of 64 bytes, synced, on a ledger whose state already holds the
// given number of keys. The populated ledgers are built once per binary.

var (
	benchMu    sync.Mutex
	benchRoot  string
	benchStore = map[int]*store.Store{}
)

func TestMain(m *testing.M) {
	code := m.Run()
	for _, s := range benchStore {
		s.Close()
	}
	if benchRoot != "" {
		os.RemoveAll(benchRoot)
	}
	os.Exit(code)
}

func benchStateKey(i int) []byte {
	k := make([]byte, 14)
	copy(k, "acct/")
	binary.BigEndian.PutUint64(k[5:], uint64(i))
	return k[:13]
}

// populated returns a store at genesis holding n keys (built once per n).
func populated(b *testing.B, n int) *store.Store {
	b.Helper()
	benchMu.Lock()
	defer benchMu.Unlock()
	if s, ok := benchStore[n]; ok {
		return s
	}
	if benchRoot == "" {
		var err error
		if benchRoot, err = os.MkdirTemp("", "govnode-store-bench-"); err != nil {
			b.Fatal(err)
		}
	}
	s, err := store.Open(filepath.Join(benchRoot, fmt.Sprint(n)), store.DefaultOptions())
	if err != nil {
		b.Fatal(err)
	}
	changes := make([]state.Change, n)
	for i := range changes {
		changes[i] = state.Change{Key: benchStateKey(i), Value: benchValue(i, 0)}
	}
	if err := s.InitGenesis(changes); err != nil {
		b.Fatal(err)
	}
	benchStore[n] = s
	return s
}

func benchValue(i, h int) []byte {
	return fmt.Appendf(nil, "%-100d", i*1_000_003+h) // 100 bytes
}

// benchBlock builds a 1,000-tx block for height h on a state of n keys.
func benchBlock(h uint64, n int, rng *rand.Rand) *store.CommitData {
	const txs, txSize = 1000, 250
	d := &store.CommitData{Height: h}
	body := make([]byte, 0, txs*txSize+64)
	seen := make(map[int]bool, 3*txs)
	for i := 0; i < txs; i++ {
		tx := make([]byte, txSize+6)
		for j := 0; j < txSize; j += 8 {
			binary.LittleEndian.PutUint64(tx[j:], rng.Uint64())
		}
		tx = tx[:txSize]
		body = append(body, tx...)
		d.Txs = append(d.Txs, store.TxResult{Hash: sha256.Sum256(tx), Result: tx[:64]})
		for w := 0; w < 2; w++ {
			k := rng.IntN(n)
			for seen[k] {
				k = rng.IntN(n)
			}
			seen[k] = true
			d.Changes = append(d.Changes, state.Change{Key: benchStateKey(k), Value: benchValue(k, int(h))})
		}
		nk := n + int(h)*txs + i // a new key
		d.Changes = append(d.Changes, state.Change{Key: benchStateKey(nk), Value: benchValue(nk, int(h))})
	}
	d.Block = body
	d.BlockHash = sha256.Sum256(body)
	d.Cert = make([]byte, 1024)
	return d
}

func BenchmarkCommit1000Tx(b *testing.B) {
	for _, n := range benchSizes() {
		b.Run(fmt.Sprintf("state=%d", n), func(b *testing.B) {
			s := populated(b, n)
			// Seeded by the starting height too: with -count N the runs
			// share the populated ledger and must not repeat its blocks
			// (the first run's blocks are those of a fresh ledger).
			h0, _ := s.Height()
			rng := rand.New(rand.NewPCG(uint64(n), h0+1))
			var cpu time.Duration
			for b.Loop() {
				b.StopTimer()
				h, _ := s.Height()
				d := benchBlock(h+1, n, rng)
				c0 := processCPU()
				b.StartTimer()
				if err := s.Commit(d); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				cpu += processCPU() - c0
				b.StartTimer()
			}
			b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
		})
	}
}

// processCPU is the CPU time (user + system, all threads, LevelDB's
// background compaction included) the process has used: on a shared
// machine it measures the work a commit costs better than wall time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPointRead: one op is 1,000 reads of random existing keys (so a
// fixed -benchtime Nx, as used for the commits, still reads enough);
// ns/read is the figure.
func BenchmarkPointRead(b *testing.B) {
	const reads = 1000
	for _, n := range benchSizes() {
		s := populated(b, n)
		h, _ := s.Height()
		b.Run(fmt.Sprintf("latest/state=%d", n), func(b *testing.B) {
			i := 0
			for b.Loop() {
				for r := 0; r < reads; r++ {
					i++
					if _, err := s.Get(benchStateKey(int(uint64(i) * 2654435761 % uint64(n)))); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*reads), "ns/read")
		})
		b.Run(fmt.Sprintf("tree/state=%d", n), func(b *testing.B) {
			i := 0
			for b.Loop() {
				for r := 0; r < reads; r++ {
					i++
					if _, err := s.State().Get(h, benchStateKey(int(uint64(i)*2654435761%uint64(n)))); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*reads), "ns/read")
		})
	}
}
