package mempool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/p2p"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// refusingChecker is the fake checker with chosen verdicts for chosen txs:
// a checker refusal with a result code, or a plain error (a storage read
// failing).
type refusingChecker struct {
	*fakeChecker
	refuse map[string]error
}

func (c refusingChecker) CheckTx(t *exec.Tx) (*TxMeta, error) {
	if err, ok := c.refuse[string(t.Raw)]; ok {
		return nil, err
	}
	return c.fakeChecker.CheckTx(t)
}

// A batch from a peer (AdmitBatch, p2p's tx validator): each tx has its
// own verdict, in order. Admitted: nil; held already, refused for what
// this node's own state, fill or local size limit says, refused with a code
// not known to be provable, or not judged at all (the checker failed):
// ignored, since an honest peer may have sent it; only a tx that does not
// decode or is for another chain is rejected, which penalises the peer; a
// bad tx does not stop the txs after it. Review of issue 20: ALREADY_EXISTS
// (a client sent the same tender to two nodes around a commit) graylisted
// an honest validator.
func TestAdmitBatchVerdicts(t *testing.T) {
	cfg := mcfg(100, 10_000, 64, 16)
	fc := &fakeChecker{next: map[string]uint64{}, bad: map[string]bool{}, badTx: map[string]bool{}}
	refusal := func(code pb.ResultCode) error { return fmt.Errorf("checker: %w", codeRefusal(code)) }
	rc := refusingChecker{fakeChecker: fc, refuse: map[string]error{
		"a:2:exists":    refusal(pb.ResultCode_RESULT_CODE_ALREADY_EXISTS),
		"a:2:conflict":  refusal(pb.ResultCode_RESULT_CODE_CONFLICT),
		"a:2:badsig":    refusal(pb.ResultCode_RESULT_CODE_BAD_SIGNATURE),
		"a:2:invalid":   refusal(pb.ResultCode_RESULT_CODE_INVALID_ARGUMENT),
		"a:2:newcode":   refusal(pb.ResultCode(99)),
		"a:2:readfail":  errors.New("leveldb: read failed"),
		"a:2:malformed": refusal(pb.ResultCode_RESULT_CODE_MALFORMED),
		"a:2:chain":     refusal(pb.ResultCode_RESULT_CODE_WRONG_CHAIN),
	}}
	m, err := New(cfg, rc, exec.NewKnown(crypto.Ed25519SHA256))
	if err != nil {
		t.Fatal(err)
	}
	var preverified [][]byte
	f := &Fanout{Pool: m, Log: slog.New(slog.DiscardHandler), Preverify: func(txs [][]byte) []*exec.Tx { preverified = txs; return nil }}
	ctx := context.Background()
	fc.commit("b", 5)
	batch := [][]byte{
		tx("a", 1),
		tx("a", 1),   // held already
		tx("b", 3),   // stale nonce
		tx("a", 100), // nonce too far
		[]byte("a:2:" + strings.Repeat("x", 100)), // over the local limit
		[]byte("a:2:exists"),
		[]byte("a:2:conflict"),
		[]byte("a:2:badsig"),
		[]byte("a:2:invalid"),
		[]byte("a:2:newcode"),
		[]byte("a:2:readfail"),
		[]byte("a:2:malformed"),
		[]byte("a:2:chain"),
		tx("a", 2), // admitted after the bad ones
	}
	admitted := []int{0, 13}
	ignored := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	rejected := []int{11, 12}
	got := f.AdmitBatch(ctx, batch)
	if len(got) != len(batch) {
		t.Fatalf("%d verdicts for %d txs", len(got), len(batch))
	}
	if len(preverified) != len(batch) {
		t.Errorf("preverified %d txs, want the whole batch of %d", len(preverified), len(batch))
	}
	for _, i := range admitted {
		if got[i] != nil {
			t.Errorf("tx %d %q: %v, want admitted", i, batch[i], got[i])
		}
	}
	for _, i := range ignored {
		if !errors.Is(got[i], p2p.ErrIgnore) {
			t.Errorf("tx %d %q: %v, want ErrIgnore (no penalty)", i, batch[i], got[i])
		}
	}
	for _, i := range rejected {
		if got[i] == nil || errors.Is(got[i], p2p.ErrIgnore) {
			t.Errorf("tx %d %q: %v, want a rejection", i, batch[i], got[i])
		}
	}
	if n, _ := m.Size(); n != 2 {
		t.Errorf("mempool holds %d txs, want 2", n)
	}
}

// Submit admits a tx and hands it to the sender; a refused tx is not sent.
func TestFanoutSubmitSends(t *testing.T) {
	m, _ := newTestMempool(t, mcfg(100, 10_000, 64, 16))
	var sent [][]byte
	f := &Fanout{Pool: m, Host: senderFunc(func(tx []byte) error { sent = append(sent, tx); return nil }),
		Submitted: func() {}, Sent: func([]byte) {}, Log: slog.New(slog.DiscardHandler)}
	if _, err := f.Submit(context.Background(), tx("a", 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Submit(context.Background(), []byte("a:2:bad")); err == nil {
		t.Fatal("malformed tx admitted")
	}
	if len(sent) != 1 || string(sent[0]) != string(tx("a", 1)) {
		t.Fatalf("sent %q, want the admitted tx only", sent)
	}
}

type senderFunc func(tx []byte) error

func (f senderFunc) SendTx(tx []byte) error { return f(tx) }

type codeRefusal pb.ResultCode

func (c codeRefusal) Error() string             { return pb.ResultCode(c).String() }
func (c codeRefusal) ResultCode() pb.ResultCode { return pb.ResultCode(c) }

// Only a refusal no committed state explains (a tx that does not decode,
// another chain's tx) proves the sending peer wrong; every other code,
// including one added later, and a checker error that is no refusal, do
// not.
func TestProvableCodes(t *testing.T) {
	for code := range pb.ResultCode_name {
		want := code == int32(pb.ResultCode_RESULT_CODE_MALFORMED) || code == int32(pb.ResultCode_RESULT_CODE_WRONG_CHAIN)
		err := fmt.Errorf("checker: %w", codeRefusal(code))
		if got := Provable(err); got != want {
			t.Errorf("%v: Provable %v, want %v", pb.ResultCode(code), got, want)
		}
		if StateDependent(err) == Provable(err) {
			t.Errorf("%v: StateDependent is not the opposite of Provable", pb.ResultCode(code))
		}
	}
	for _, err := range []error{errors.New("storage read failed"), fmt.Errorf("%w: disk", ErrInvalidTx), codeRefusal(99)} {
		if Provable(err) {
			t.Errorf("%v: provable, want not", err)
		}
	}
}
