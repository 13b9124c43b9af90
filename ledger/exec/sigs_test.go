package exec_test

import (
	"fmt"
	"testing"

	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/exec/exectest"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// grants returns n grant txs signed by cit0..cit3 in turn.
func grants(f *exectest.Fixture, n int) [][]byte {
	txs := make([][]byte, n)
	for i := range txs {
		txs[i] = f.S(fmt.Sprintf("cit%d", i%4)).Tx(grant(fmt.Sprintf("g%d", i), "d1", "", exectest.LandTitle, 1<<40))
	}
	return txs
}

func wantVerified(t *testing.T, ex *exec.Executor, step string, want uint64) {
	t.Helper()
	if got := ex.SigStats().Verified; got != want {
		t.Fatalf("%s: %d signatures verified in all, want %d", step, got, want)
	}
}

// Each tx's signature is verified once per node (issue 8): the mempool's
// verdict (CheckTx) serves its rechecks, proposal validation
// (PreverifyTxs) and ApplyBlock; txs first met in a proposal are verified
// once there; a node that only applies the block (block sync) verifies
// each once in ApplyBlock.
func TestSignaturesVerifiedOncePerTx(t *testing.T) {
	f := exectest.NewFixture(2)
	txs := grants(f, 40)
	cfg := exec.DefaultConfig(exectest.ChainID)
	cfg.SigCache, cfg.VerifyWorkers = &mapCache{}, 2
	ch, err := f.NewChain(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ex := ch.Exec
	// The mempool admits the first half (API or gossip), and sees each
	// again (our own publication, a second peer, the recheck after a
	// commit).
	for range 2 {
		for _, tx := range txs[:20] {
			if r, err := ex.CheckTx(ch.Store, tx); err != nil || !r.OK() {
				t.Fatalf("CheckTx: %v %v", r, err)
			}
		}
		wantVerified(t, ex, "mempool", 20)
	}
	// A proposal carries all 40: the 20 unseen ones are verified, once
	// even if the proposal is validated twice.
	for range 2 {
		if _, err := ex.PreverifyTxs(ch.Store, txs); err != nil {
			t.Fatal(err)
		}
		wantVerified(t, ex, "proposal", 40)
	}
	res, err := ch.Apply(txs...)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res.Results {
		if r.GetCode() != codeOK {
			t.Fatalf("tx %d: %v %s", i, r.GetCode(), r.GetReason())
		}
	}
	wantVerified(t, ex, "commit", 40)
	if c := ex.SigStats().Cached; c < 100 {
		t.Fatalf("%d cache hits, want at least 100", c)
	}
	// A committed tx seen again (late gossip) is refused by its nonce
	// before its signature.
	if r, _ := ex.CheckTx(ch.Store, txs[30]); r.Code != codeBadNonce {
		t.Fatalf("late tx: %v", r.Code)
	}
	wantVerified(t, ex, "late gossip", 40)

	// Block sync: the block alone, verified once, in one batch.
	for _, cache := range []exec.SigCache{nil, &mapCache{}} {
		cfg.SigCache = cache
		sync, err := f.NewChain(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sync.Apply(txs...); err != nil {
			t.Fatal(err)
		}
		wantVerified(t, sync.Exec, "block sync", 40)
	}
}

// A verdict reached ahead of the sequential pass (ApplyBlock's first pass,
// proposal validation, the mempool) is used only with the key it was
// reached with: a key rotated earlier in the block is checked again. Every
// configuration (cache or none, warmed or not, any number of workers)
// gives byte-identical results, which are the single-verification ones.
func TestBatchedApplyMatchesSingle(t *testing.T) {
	f := exectest.NewFixture(2)
	good := grants(f, 30)
	c0, c2, c3 := f.S("cit0"), f.S("cit2"), f.S("cit3")
	oldKey := c3.Key
	newKey := keyFor("cit3-new")
	rotateTx := c3.Tx(rotate("cit3", newKey.Public(), ""))
	c3.Key = newKey
	byNewKey := c3.Tx(grant("n1", "d1", "", exectest.LandTitle, 1<<40)) // valid after the rotation only
	c3.Key = oldKey
	byOldKey := c3.Tx(grant("n2", "d1", "", exectest.LandTitle, 1<<40)) // valid before the rotation only
	badSig := c2.Tx(grant("b1", "d1", "", exectest.LandTitle, 1<<40))
	badSig[len(badSig)-5] ^= 1 // in the signature, the envelope's last field
	replay := good[0]
	unknown := exectest.NewSigner("nobody").Tx(grant("u1", "d1", "", exectest.LandTitle, 1<<40))
	late := c0.Tx(grant("l1", "d1", "", exectest.LandTitle, 1<<40))

	block1 := good[:10]
	block2 := append(append([][]byte{}, good[10:]...), rotateTx, byNewKey, byOldKey, badSig, replay, unknown, late)
	want := map[int]pb.ResultCode{20: codeOK, 21: codeOK, 22: codeBadSig, 23: codeBadSig, 24: codeBadNonce, 25: codeUnknown, 26: codeOK}

	type setup struct {
		name    string
		cache   bool
		workers int
		warm    func(ex *exec.Executor, r exec.Reader) error
	}
	setups := []setup{
		{name: "no cache, one worker"},
		{name: "no cache, 4 workers", workers: 4},
		{name: "cache, cold", cache: true, workers: 2},
		{name: "cache, mempool saw all", cache: true, workers: 2, warm: func(ex *exec.Executor, r exec.Reader) error {
			for _, tx := range block2 {
				if _, err := ex.CheckTx(r, tx); err != nil {
					return err
				}
			}
			return nil
		}},
		{name: "cache, proposal validated", cache: true, workers: 3, warm: func(ex *exec.Executor, r exec.Reader) error {
			_, err := ex.PreverifyTxs(r, block2)
			return err
		}},
	}
	var ref []*pb.TxResult
	var refHash []byte
	for _, s := range setups {
		cfg := exec.DefaultConfig(exectest.ChainID)
		cfg.VerifyWorkers = s.workers
		if s.cache {
			cfg.SigCache = &mapCache{}
		}
		ch, err := f.NewChain(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ch.Apply(block1...); err != nil {
			t.Fatal(err)
		}
		if s.warm != nil {
			if err := s.warm(ch.Exec, ch.Store); err != nil {
				t.Fatal(err)
			}
		}
		res, err := ch.Apply(block2...)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res.Results {
			w, ok := want[i]
			if !ok {
				w = codeOK
			}
			if r.GetCode() != w {
				t.Errorf("%s: tx %d: %v (%s), want %v", s.name, i, r.GetCode(), r.GetReason(), w)
			}
		}
		if ref == nil {
			ref, refHash = res.Results, ch.Store.Hash()
			continue
		}
		for i, r := range res.Results {
			if r.GetCode() != ref[i].GetCode() || r.GetReason() != ref[i].GetReason() {
				t.Errorf("%s: tx %d: %v %q, first setup %v %q", s.name, i, r.GetCode(), r.GetReason(), ref[i].GetCode(), ref[i].GetReason())
			}
		}
		if string(ch.Store.Hash()) != string(refHash) {
			t.Errorf("%s: state differs from the first setup's", s.name)
		}
	}
}
