package exec_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/exec/exectest"
)

// FuzzDecodeTx: arbitrary bytes never panic, and either decode to a body
// with an action or fail with ErrMalformed / ErrTooLarge.
func FuzzDecodeTx(f *testing.F) {
	s := exectest.NewSigner("cit0")
	f.Add(s.Tx(grant("g", "d1", "", "land_title", 1)))
	f.Add(s.Tx(regSubject("x", citizen)))
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		stx, body, err := exec.DecodeTx(b)
		if err != nil {
			if !errors.Is(err, exec.ErrMalformed) && !errors.Is(err, exec.ErrTooLarge) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		if body.GetAction() == nil || len(stx.GetBody()) == 0 || len(stx.GetSignature()) == 0 {
			t.Fatal("decoded tx without action, body or signature")
		}
	})
}

var (
	fuzzOnce  sync.Once
	fuzzChain *exectest.Chain
)

// FuzzCheckTx: arbitrary bytes never panic nor give a node error; a result
// always has a code and, when refused, a reason.
func FuzzCheckTx(f *testing.F) {
	fx := exectest.NewFixture(2)
	f.Add(fx.S("cit0").Tx(grant("g", "d1", "", "land_title", 1<<40)))
	f.Add(fx.S("d0.registrar").Tx(regSubject("x", citizen)))
	f.Add(fx.S("d0.issuer").Tx(createRec("r", "land_title", "cit0", []byte("x"))))
	f.Add([]byte{0xff})
	fuzzOnce.Do(func() {
		c, err := exectest.NewFixture(2).NewChain(exec.DefaultConfig(exectest.ChainID))
		if err != nil {
			f.Fatal(err)
		}
		fuzzChain = c
	})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := fuzzChain.Exec.CheckTx(fuzzChain.Store, b)
		if err != nil {
			t.Fatalf("node error on tx input: %v", err)
		}
		if !r.OK() && r.Reason == "" {
			t.Fatalf("refusal %v without reason", r.Code)
		}
		if len(r.TxHash) != 32 {
			t.Fatalf("tx hash %x", r.TxHash)
		}
	})
}
