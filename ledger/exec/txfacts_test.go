package exec_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/exec/exectest"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// A Known table finds a tx by the identity of its bytes: the very slice it
// was given, not an equal copy (which is decoded again, to the same
// facts), nor a slice of the same array with another length.
func TestKnownFindsTheSameBytesOnly(t *testing.T) {
	raw := exectest.NewSigner("cit0").Tx(&pb.TxBody{Memo: "known", Action: &pb.TxBody_GrantAccess{GrantAccess: &pb.GrantAccess{GrantId: "g1"}}})
	tx := exec.NewTx(crypto.Ed25519SHA256, raw)
	if tx.Err != nil || tx.Body.GetSigner() == "" || !bytes.Equal(tx.Hash, exec.TxHash(crypto.Ed25519SHA256, raw)) {
		t.Fatalf("NewTx: %+v", tx)
	}
	k := exec.NewKnown(crypto.Ed25519SHA256)
	k.Put(tx)
	if k.Tx(raw) != tx {
		t.Fatal("the admitted slice is not found")
	}
	cp := bytes.Clone(raw)
	if k.Get(cp) != nil {
		t.Fatal("an equal copy is found by identity")
	}
	if got := k.Tx(cp); got == tx || !bytes.Equal(got.Hash, tx.Hash) || got.Body.GetNonce() != tx.Body.GetNonce() {
		t.Fatal("a copy is not decoded to the same facts")
	}
	if k.Get(raw[:len(raw)-1]) != nil || k.Get(nil) != nil {
		t.Fatal("a shorter slice of the same array, or nil, is found")
	}
	if st := k.Stats(); st.Hits != 1 || st.Misses != 1 {
		t.Fatalf("stats %+v, want 1 hit and 1 miss", st)
	}
	// Drop removes only the entry it names.
	k.Drop(exec.NewTx(crypto.Ed25519SHA256, raw))
	if k.Get(raw) != tx {
		t.Fatal("dropping another Tx of the same bytes removed the entry")
	}
	k.Drop(tx)
	if k.Get(raw) != nil || k.Len() != 0 {
		t.Fatal("drop left the entry")
	}
	// A nil table holds nothing and decodes everything.
	var none *exec.Known
	none.Put(tx)
	if none.Get(raw) != nil || none.Len() != 0 {
		t.Fatal("nil table")
	}
	// Junk decodes to an error that says why, as DecodeTx's.
	if bad := exec.NewTx(crypto.Ed25519SHA256, []byte{0xff}); !errors.Is(bad.Err, exec.ErrMalformed) || bad.Body != nil {
		t.Fatalf("junk: %v", bad.Err)
	}
}
