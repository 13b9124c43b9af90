package state_test

import (
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/filter"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/util"

	"github.com/govnode/govnode/ledger/state"
)

// Benchmarks (issue "Ledger storage", item 5). The 1,000,000-key tree is
// built once per test binary, on disk, and shared by the benchmarks:
//
//	go test ./ledger/state -run '^$' -bench . -benchtime 2s
//
// -bench.dir=DIR keeps the built tree in DIR for later runs.

const bigN = 1_000_000

var benchDir = flag.String("bench.dir", "", "build the 1M-key benchmark tree in this directory and keep it; reuse it if it is there")

var (
	bigOnce sync.Once
	bigDir  string
	bigDB   *leveldb.DB
	bigTree *state.Tree
	bigErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if bigDB != nil {
		bigDB.Close()
	}
	if bigDir != "" && *benchDir == "" {
		os.RemoveAll(bigDir)
	}
	os.Exit(code)
}

func benchKey(i int) []byte {
	k := make([]byte, 12)
	copy(k, "key/")
	binary.BigEndian.PutUint64(k[4:], uint64(i))
	return k
}

func benchValue(i int) []byte {
	return []byte(fmt.Sprintf("value-%d-%040d", i, i)) // about 50 bytes
}

// bigTreeFor builds (once) a tree of bigN keys in versions of 100,000.
func bigTreeFor(b *testing.B) *state.Tree {
	b.Helper()
	bigOnce.Do(func() {
		if *benchDir != "" {
			bigDir = *benchDir
		} else if bigDir, bigErr = os.MkdirTemp("", "govnode-state-bench-"); bigErr != nil {
			return
		}
		bigDB, bigErr = leveldb.OpenFile(bigDir, &opt.Options{
			BlockCacheCapacity: 128 * opt.MiB,
			WriteBuffer:        64 * opt.MiB,
			Filter:             filter.NewBloomFilter(10),
		})
		if bigErr != nil {
			return
		}
		bigTree, bigErr = state.Open(bigDB, []byte("t/"))
		if bigErr != nil {
			return
		}
		if v, ok := bigTree.LatestVersion(); ok && v == bigN/100_000-1 {
			return // built by an earlier run with -bench.dir
		}
		const chunk = 100_000
		for v := 0; v*chunk < bigN; v++ {
			changes := make([]state.Change, chunk)
			for i := range changes {
				n := v*chunk + i
				changes[i] = state.Change{Key: benchKey(n), Value: benchValue(n)}
			}
			root, w, err := bigTree.Stage(uint64(v), changes)
			if err != nil {
				bigErr = err
				return
			}
			batch := new(leveldb.Batch)
			w.ApplyTo(batch)
			if bigErr = bigDB.Write(batch, nil); bigErr != nil {
				return
			}
			if bigErr = bigTree.Committed(uint64(v), root); bigErr != nil {
				return
			}
		}
		bigErr = bigDB.CompactRange(util.Range{})
	})
	if bigErr != nil {
		b.Fatal(bigErr)
	}
	return bigTree
}

func BenchmarkProofGenerate1M(b *testing.B) {
	tr := bigTreeFor(b)
	v, _ := tr.LatestVersion()
	size, sibs := 0, 0
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		k := benchKey(int(uint64(i) * 2654435761 % bigN))
		_, p, err := tr.GetWithProof(v, k)
		if err != nil {
			b.Fatal(err)
		}
		size += len(p.Marshal())
		sibs += len(p.Siblings)
	}
	b.ReportMetric(float64(size)/float64(b.N), "proof-bytes")
	b.ReportMetric(float64(sibs)/float64(b.N), "siblings")
}

func BenchmarkProofVerify1M(b *testing.B) {
	tr := bigTreeFor(b)
	v, _ := tr.LatestVersion()
	root, _ := tr.Root(v)
	type item struct {
		k, v []byte
		p    []byte
	}
	items := make([]item, 1024)
	maxSize := 0
	for i := range items {
		n := i * 977 % bigN
		k := benchKey(n)
		if i%2 == 1 {
			k = benchKey(bigN + n) // absent: a non-inclusion proof
		}
		val, p, err := tr.GetWithProof(v, k)
		if err != nil {
			b.Fatal(err)
		}
		items[i] = item{k, val, p.Marshal()}
		maxSize = max(maxSize, len(items[i].p))
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		it := &items[i%len(items)]
		p, err := state.UnmarshalProof(it.p)
		if err != nil {
			b.Fatal(err)
		}
		if err := state.Verify(state.SHA256, root, it.k, it.v, p); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(maxSize), "max-proof-bytes")
}

func BenchmarkGet1M(b *testing.B) {
	tr := bigTreeFor(b)
	v, _ := tr.LatestVersion()
	for i := 0; b.Loop(); i++ {
		if _, err := tr.Get(v, benchKey(int(uint64(i)*2654435761%bigN))); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStage3000At1M stages 3,000 changes (a 1,000-tx block's writes)
// against the 1M-key tree, without writing them.
func BenchmarkStage3000At1M(b *testing.B) {
	tr := bigTreeFor(b)
	v, _ := tr.LatestVersion()
	changes := make([]state.Change, 3000)
	for i := 0; b.Loop(); i++ {
		for j := range changes {
			n := (i*3000 + j) * 7919 % (bigN + bigN/10) // mostly updates, some inserts
			changes[j] = state.Change{Key: benchKey(n), Value: benchValue(n + i)}
		}
		if _, _, err := tr.Stage(v+1, changes); err != nil {
			b.Fatal(err)
		}
	}
}
