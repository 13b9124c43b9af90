package store_test

import (
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/govnode/govnode/ledger/state"
	"github.com/govnode/govnode/ledger/store"
)

// chainSpec generates a deterministic chain: every height's block, results
// and state changes follow from the height alone, so a checker can replay
// heights 1..h without asking the store.
type chainSpec struct {
	txsPerBlock int
	keys        int // size of the key universe
}

func (c chainSpec) genesis() []state.Change {
	var ch []state.Change
	for i := 0; i < c.keys/4; i++ {
		ch = append(ch, state.Change{Key: stateKey(i), Value: []byte(fmt.Sprint("genesis-", i))})
	}
	return ch
}

func stateKey(i int) []byte { return []byte(fmt.Sprintf("acct/%05d", i)) }

func (c chainSpec) block(h uint64) *store.CommitData {
	rng := rand.New(rand.NewPCG(h, 0xb10c))
	d := &store.CommitData{Height: h}
	body := []byte(fmt.Sprintf("block %d;", h))
	seen := map[int]bool{}
	for i := 0; i < c.txsPerBlock; i++ {
		tx := []byte(fmt.Sprintf("tx %d/%d %x", h, i, rng.Uint64()))
		body = append(body, tx...)
		d.Txs = append(d.Txs, store.TxResult{Hash: sha256.Sum256(tx), Result: []byte(fmt.Sprint("ok ", h, " ", i))})
		for w := 0; w < 3; w++ {
			k := rng.IntN(c.keys)
			if seen[k] {
				continue
			}
			seen[k] = true
			if rng.IntN(5) == 0 {
				d.Changes = append(d.Changes, state.Change{Key: stateKey(k), Delete: true})
			} else {
				d.Changes = append(d.Changes, state.Change{Key: stateKey(k), Value: []byte(fmt.Sprintf("v%d.%d.%d", h, i, w))})
			}
		}
	}
	d.Block = body
	d.BlockHash = sha256.Sum256(body)
	d.Cert = []byte(fmt.Sprintf("cert %d %x", h, d.BlockHash))
	if h%2 == 0 {
		d.BlockEvents = []byte(fmt.Sprintf("events of %d", h))
	}
	return d
}

func openStore(tb testing.TB, dir string) *store.Store {
	tb.Helper()
	s, err := store.Open(dir, store.DefaultOptions())
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	return s
}
