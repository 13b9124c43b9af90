package store_test

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/syndtr/goleveldb/leveldb"

	"github.com/govnode/govnode/ledger/internal/ledgertest"
	"github.com/govnode/govnode/ledger/state"
	"github.com/govnode/govnode/ledger/store"
)

// The crash test (issue "Ledger storage", item 3; ARCHITECTURE.md §5 "Storage"): a
// child process commits deterministic blocks in a loop and is SIGKILLed at
// random moments; after every kill the parent reopens the ledger and checks
// it against a replay of the same blocks.
//
//	go test ./ledger/store -run TestCrashRecovery                    # default, 32 kills
//	go test ./ledger/store -run TestCrashRecovery -crash.kills=2000 -timeout=1h
//	go test ./ledger/store -run TestCrashRecovery -crash.seed=N      # replay a seed
var (
	crashKills = flag.Int("crash.kills", 32, "SIGKILLs in TestCrashRecovery")
	crashSeed  = flag.Uint64("crash.seed", 0, "seed of TestCrashRecovery's kill moments (0: new seed, logged)")
	crashChild = flag.String("crash.child", "", "internal: run TestCrashHelper as the committing child on this ledger directory")
)

// crashSpec is the chain the child commits: small blocks so that many
// commits, and many kills mid-commit, fit in a few seconds.
var crashSpec = chainSpec{txsPerBlock: 12, keys: 2000}

// TestCrashHelper is the child: it commits blocks until it is killed.
func TestCrashHelper(t *testing.T) {
	if *crashChild == "" {
		t.Skip("only runs as the child of TestCrashRecovery")
	}
	s, err := store.Open(*crashChild, store.DefaultOptions())
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		os.Exit(3)
	}
	if _, ok := s.Height(); !ok {
		if err := s.InitGenesis(crashSpec.genesis()); err != nil {
			fmt.Fprintln(os.Stderr, "child genesis:", err)
			os.Exit(3)
		}
	}
	fmt.Println("ready")
	for i := 0; i < 1_000_000; i++ {
		h, _ := s.Height()
		if err := s.Commit(crashSpec.block(h + 1)); err != nil {
			fmt.Fprintln(os.Stderr, "child commit:", err)
			os.Exit(3)
		}
	}
	os.Exit(0)
}

func TestCrashRecovery(t *testing.T) {
	if *crashChild != "" {
		t.Skip("child mode")
	}
	seed := *crashSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (replay with -crash.seed=%d), %d kills", seed, seed, *crashKills)
	rng := rand.New(rand.NewPCG(seed, 0xc4a5))
	dir := filepath.Join(t.TempDir(), "ledger")

	// Reference: the same chain replayed from scratch into a memory tree.
	refDB := ledgertest.MemDB(t)
	ref, err := state.Open(refDB, []byte("ref/"))
	if err != nil {
		t.Fatal(err)
	}
	var roots []state.Hash
	advance := func(h uint64) {
		for uint64(len(roots)) <= h {
			v := uint64(len(roots))
			changes := crashSpec.genesis()
			if v > 0 {
				changes = crashSpec.block(v).Changes
			}
			root, w, err := ref.Stage(v, changes)
			if err != nil {
				t.Fatal(err)
			}
			b := new(leveldb.Batch)
			w.ApplyTo(b)
			if err := refDB.Write(b, nil); err != nil {
				t.Fatal(err)
			}
			if err := ref.Committed(v, root); err != nil {
				t.Fatal(err)
			}
			roots = append(roots, root)
		}
	}

	var checked uint64 // heights 1..checked are verified block by block
	hasGenesis := false
	midCommit := 0
	start := time.Now()
	for kill := 0; kill < *crashKills; kill++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.timeout=5m", "-crash.child="+dir)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// One kill in five lands anywhere from process start (during
		// Open, journal recovery or genesis); the rest land while the
		// child is committing. The sleep picks the moment; nothing
		// waits on it for synchronisation.
		if rng.IntN(5) == 0 {
			time.Sleep(time.Duration(rng.IntN(30_000)) * time.Microsecond)
		} else {
			line, _ := bufio.NewReader(out).ReadString('\n')
			if line != "ready\n" {
				cmd.Wait()
				t.Fatalf("kill %d: child did not start: %q, stderr: %s", kill, line, stderr.String())
			}
			time.Sleep(time.Duration(rng.IntN(40_000)) * time.Microsecond)
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		err = cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("kill %d: child ended before the kill (%v): %s", kill, err, stderr.String())
		}

		s, err := store.Open(dir, store.DefaultOptions())
		if err != nil {
			t.Fatalf("kill %d: reopen: %v", kill, err)
		}
		h, ok := s.Height()
		if !ok {
			if hasGenesis {
				t.Fatalf("kill %d: genesis lost", kill)
			}
			s.Close()
			continue
		}
		hasGenesis = true
		if h < checked {
			t.Fatalf("kill %d: height went back from %d to %d", kill, checked, h)
		}
		if h > checked {
			midCommit++
		}
		advance(h)
		if err := s.Audit(); err != nil {
			t.Fatalf("kill %d at height %d: %v", kill, h, err)
		}
		for x := uint64(0); x <= h; x++ {
			if x <= checked && x != 0 && x != h {
				continue // verified after an earlier kill; Audit covers its records
			}
			if r, err := s.StateRoot(x); err != nil || r != roots[x] {
				t.Fatalf("kill %d: height %d: stored root %x (%v), replayed %x", kill, x, r, err, roots[x])
			}
			if r, err := s.State().Root(x); err != nil || r != roots[x] {
				t.Fatalf("kill %d: height %d: tree root %x (%v), replayed %x", kill, x, r, err, roots[x])
			}
			if x == 0 {
				continue
			}
			want := crashSpec.block(x)
			hash, blk, err := s.BlockByHeight(x)
			if err != nil || hash != want.BlockHash || !bytes.Equal(blk, want.Block) {
				t.Fatalf("kill %d: block %d: %v", kill, x, err)
			}
			if c, err := s.CommitCert(x); err != nil || !bytes.Equal(c, want.Cert) {
				t.Fatalf("kill %d: cert %d: %v", kill, x, err)
			}
			for i, tx := range want.Txs {
				loc, res, err := s.TxByHash(tx.Hash)
				if err != nil || loc != (store.TxLocation{Height: x, Index: uint32(i)}) || !bytes.Equal(res, tx.Result) {
					t.Fatalf("kill %d: tx %d/%d: %v %v", kill, x, i, loc, err)
				}
			}
		}
		// Nothing of the block that may have been in flight.
		for _, tx := range crashSpec.block(h + 1).Txs {
			if _, _, err := s.TxByHash(tx.Hash); err == nil {
				t.Fatalf("kill %d: tx of block %d indexed at head %d", kill, h+1, h)
			}
		}
		if _, _, err := s.BlockByHash(crashSpec.block(h + 1).BlockHash); err == nil {
			t.Fatalf("kill %d: block %d stored at head %d", kill, h+1, h)
		}
		checked = h
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if !hasGenesis || checked == 0 {
		t.Fatalf("the child never committed a block in %d runs", *crashKills)
	}
	t.Logf("%d kills in %v: final height %d, %d restarts found new blocks", *crashKills, time.Since(start).Round(time.Millisecond), checked, midCommit)
}
