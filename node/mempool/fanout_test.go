package mempool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/govnode/govnode/p2p"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// A batch from a peer (AdmitBatch, p2p's tx validator): each tx has its
// own verdict, in order. Admitted: nil; held already, or refused for what
// this node's own state, fill or local size limit says: ignored (the peer
// may be honest); malformed: rejected, which penalises the peer; a bad tx
// does not stop the txs after it.
func TestAdmitBatchVerdicts(t *testing.T) {
	m, c := newTestMempool(t, mcfg(100, 10_000, 64, 16))
	var preverified [][]byte
	f := &Fanout{Pool: m, Log: slog.New(slog.DiscardHandler), Preverify: func(txs [][]byte) { preverified = txs }}
	ctx := context.Background()
	c.commit("b", 5)
	batch := [][]byte{
		tx("a", 1),
		tx("a", 1),   // held already
		tx("b", 3),   // stale nonce
		tx("a", 100), // nonce too far
		[]byte("a:2:" + strings.Repeat("x", 100)), // over the local limit
		[]byte("a:2:bad"),                         // malformed
		tx("a", 2),                                // admitted after the bad one
	}
	got := f.AdmitBatch(ctx, batch)
	if len(got) != len(batch) {
		t.Fatalf("%d verdicts for %d txs", len(got), len(batch))
	}
	if len(preverified) != len(batch) {
		t.Errorf("preverified %d txs, want the whole batch of %d", len(preverified), len(batch))
	}
	for _, i := range []int{0, 6} {
		if got[i] != nil {
			t.Errorf("tx %d: %v, want admitted", i, got[i])
		}
	}
	for _, i := range []int{1, 2, 3, 4} {
		if !errors.Is(got[i], p2p.ErrIgnore) {
			t.Errorf("tx %d: %v, want ErrIgnore", i, got[i])
		}
	}
	if got[5] == nil || errors.Is(got[5], p2p.ErrIgnore) {
		t.Errorf("malformed tx: %v, want a rejection", got[5])
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

// A refusal that another height's state explains costs the relaying peer
// nothing; one no state explains (a bad signature, a malformed body) does.
func TestStateDependentCodes(t *testing.T) {
	for code, want := range map[pb.ResultCode]bool{
		pb.ResultCode_RESULT_CODE_BAD_NONCE:        true,
		pb.ResultCode_RESULT_CODE_CONSENT_REQUIRED: true, // a grant revoked since
		pb.ResultCode_RESULT_CODE_CONFLICT:         true, // a record erased since
		pb.ResultCode_RESULT_CODE_NOT_FOUND:        true,
		pb.ResultCode_RESULT_CODE_BAD_SIGNATURE:    false,
		pb.ResultCode_RESULT_CODE_MALFORMED:        false,
		pb.ResultCode_RESULT_CODE_INVALID_ARGUMENT: false,
	} {
		if got := StateDependent(fmt.Errorf("checker: %w", codeRefusal(code))); got != want {
			t.Errorf("%v: StateDependent %v, want %v", code, got, want)
		}
	}
}
