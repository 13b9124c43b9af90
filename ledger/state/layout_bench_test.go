package state_test

import (
	"crypto/sha256"
	"encoding/binary"
	"flag"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/filter"
	"github.com/syndtr/goleveldb/leveldb/opt"

	"github.com/govnode/govnode/ledger/state"
)

// BenchmarkLayout compares the tree's record layouts (keys.go) under the
// writes of a block store, in one run (docs/BENCHMARKS.md, "State tree
// layout"):
//
//	go test ./ledger/state -run '^$' -bench Layout -benchtime 200x
//
// One op is one block of -layout.changes state changes (two thirds updates
// of random existing keys, one third new keys, on a genesis of 10,000
// keys), written with the records the block store writes beside the tree
// (latest values, the block, its certificate, results and the tx index
// keyed by tx hash), synced, with the block store's LevelDB options. Each
// sub-benchmark starts from a fresh database. Variants:
//
//	content-addressed/shared  the layout before version keys, one LevelDB
//	version-keyed/shared      version keys, the tree in the store's LevelDB
//	version-keyed/split       version keys, the tree in a LevelDB of its own,
//	                          its batch synced before the store's
//	content-addressed/split   (for comparison) hash keys in a LevelDB of their own
//
// Metrics: cpu-ms/op is the process's CPU (LevelDB's background
// compaction included); write-MB/op all bytes LevelDB wrote (journal,
// flushes, compactions); comp-ms/op and comp-MB/op the compactions' time
// and bytes written (db.Stats, summed over the levels and both
// databases); disk-MB the databases' size at the end.
var layoutChanges = flag.Int("layout.changes", 500, "state changes per block in BenchmarkLayout")

func BenchmarkLayout(b *testing.B) {
	for _, v := range []struct {
		name         string
		legacy, plit bool
	}{
		{"content-addressed/shared", true, false},
		{"version-keyed/shared", false, false},
		{"version-keyed/split", false, true},
		{"content-addressed/split", true, true},
	} {
		b.Run(v.name, func(b *testing.B) { benchLayout(b, v.legacy, v.plit) })
	}
}

// storeOptions are the block store's LevelDB options (ledger/store).
func storeOptions() *opt.Options {
	return &opt.Options{
		BlockCacheCapacity:  64 * opt.MiB,
		WriteBuffer:         32 * opt.MiB,
		Filter:              filter.NewBloomFilter(10),
		Compression:         opt.NoCompression,
		BlockSize:           32 * opt.KiB,
		CompactionTableSize: 8 * opt.MiB,
	}
}

func benchLayout(b *testing.B, legacy, split bool) {
	dir := b.TempDir()
	main, err := leveldb.OpenFile(filepath.Join(dir, "ledger"), storeOptions())
	if err != nil {
		b.Fatal(err)
	}
	defer main.Close()
	treeDB := main
	if split {
		if treeDB, err = leveldb.OpenFile(filepath.Join(dir, "ledger", "state"), storeOptions()); err != nil {
			b.Fatal(err)
		}
		defer treeDB.Close()
	}
	open := state.Open
	if legacy {
		open = state.OpenContentAddressed
	}
	tr, err := open(treeDB, []byte("\x01t"))
	if err != nil {
		b.Fatal(err)
	}
	sync := &opt.WriteOptions{Sync: true}
	const genesis = 10_000
	keys := genesis
	commitBlock := func(h uint64, changes []state.Change, other func(*leveldb.Batch)) {
		root, w, err := tr.Stage(h, changes)
		if err != nil {
			b.Fatal(err)
		}
		tb := new(leveldb.Batch)
		w.ApplyTo(tb)
		ob := tb
		if split {
			if err := treeDB.Write(tb, sync); err != nil {
				b.Fatal(err)
			}
			ob = new(leveldb.Batch)
		}
		for _, c := range changes {
			ob.Put(append([]byte("\x01k"), c.Key...), c.Value)
		}
		other(ob)
		if err := main.Write(ob, sync); err != nil {
			b.Fatal(err)
		}
		if err := tr.Committed(h, root); err != nil {
			b.Fatal(err)
		}
	}
	gen := make([]state.Change, genesis)
	for i := range gen {
		gen[i] = state.Change{Key: benchStateKey(i), Value: benchStateValue(i, 0)}
	}
	commitBlock(0, gen, func(*leveldb.Batch) {})

	rng := rand.New(rand.NewPCG(1, 2))
	stats0 := layoutStats(b, main, treeDB, split)
	cpu0 := processCPU()
	b.ResetTimer()
	for h := uint64(1); b.Loop(); h++ {
		b.StopTimer()
		n := *layoutChanges
		changes := make([]state.Change, 0, n)
		seen := make(map[int]bool, n)
		for len(changes) < n {
			k := keys
			if len(changes)%3 != 2 {
				if k = rng.IntN(keys); seen[k] {
					continue
				}
			} else {
				keys++
			}
			seen[k] = true
			changes = append(changes, state.Change{Key: benchStateKey(k), Value: benchStateValue(k, h)})
		}
		txs := n / 3
		other := func(ob *leveldb.Batch) {
			body := make([]byte, 256*txs)
			for i := 0; i < len(body); i += 8 {
				binary.LittleEndian.PutUint64(body[i:], rng.Uint64())
			}
			hb := binary.BigEndian.AppendUint64(nil, h)
			bh := sha256.Sum256(body)
			ob.Put(append([]byte("\x01b"), hb...), body)
			ob.Put(append([]byte("\x01c"), hb...), make([]byte, 1024))
			ob.Put(append([]byte("\x01h"), bh[:]...), hb)
			ob.Put(append([]byte("\x01m"), hb...), make([]byte, 68))
			ob.Put([]byte("\x01H"), hb)
			for i := 0; i < txs; i++ {
				th := sha256.Sum256(body[256*i : 256*i+250])
				ob.Put(append([]byte("\x01x"), th[:]...), binary.BigEndian.AppendUint32(hb[:8:8], uint32(i)))
				ob.Put(binary.BigEndian.AppendUint32(append([]byte("\x01r"), hb...), uint32(i)), append(th[:], body[256*i:256*i+64]...))
			}
		}
		b.StartTimer()
		commitBlock(h, changes, other)
	}
	b.StopTimer()
	cpu := processCPU() - cpu0
	st := layoutStats(b, main, treeDB, split)
	ops := float64(b.N)
	b.ReportMetric(float64(cpu.Microseconds())/1000/ops, "cpu-ms/op")
	b.ReportMetric(float64(st.io-stats0.io)/(1<<20)/ops, "write-MB/op")
	b.ReportMetric(float64((st.compTime-stats0.compTime).Microseconds())/1000/ops, "comp-ms/op")
	b.ReportMetric(float64(st.compWrite-stats0.compWrite)/(1<<20)/ops, "comp-MB/op")
	b.ReportMetric(float64(dirSize(b, dir))/(1<<20), "disk-MB")
}

type levelStats struct {
	io        uint64
	compTime  time.Duration
	compWrite int64
}

func layoutStats(b *testing.B, main, tree *leveldb.DB, split bool) levelStats {
	var out levelStats
	dbs := []*leveldb.DB{main}
	if split {
		dbs = append(dbs, tree)
	}
	for _, db := range dbs {
		var s leveldb.DBStats
		if err := db.Stats(&s); err != nil {
			b.Fatal(err)
		}
		out.io += s.IOWrite
		for i := range s.LevelDurations {
			out.compTime += s.LevelDurations[i]
			out.compWrite += s.LevelWrite[i]
		}
	}
	return out
}

func dirSize(b *testing.B, dir string) int64 {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err == nil {
			n += info.Size()
		}
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return n
}

func benchStateKey(i int) []byte {
	return binary.BigEndian.AppendUint64([]byte("acct/"), uint64(i))
}

func benchStateValue(i int, h uint64) []byte {
	return fmt.Appendf(nil, "%-100d", uint64(i)*1_000_003+h) // 100 bytes
}

// processCPU is the CPU time (user + system, all threads) the process has
// used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
