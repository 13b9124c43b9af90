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

// The tx topic's validator: a tx admitted or already held is accepted;
// refusals that depend on this node's own state, fill or local size limit
// are ignored (the relaying peer may be honest); a malformed tx is
// rejected, which penalises the peer that relayed it.
func TestGossipValidateVerdicts(t *testing.T) {
	m, c := newTestMempool(t, mcfg(100, 10_000, 64, 16))
	g := &Gossip{Pool: m, Log: slog.New(slog.DiscardHandler)}
	ctx := context.Background()
	if err := g.Validate(ctx, tx("a", 1)); err != nil {
		t.Fatalf("admitted tx: %v", err)
	}
	if err := g.Validate(ctx, tx("a", 1)); err != nil {
		t.Fatalf("tx already held: %v", err)
	}
	c.commit("b", 5)
	ignored := map[string][]byte{
		"stale nonce":          tx("b", 3),
		"nonce too far":        tx("a", 100),
		"over the local limit": []byte("a:2:" + strings.Repeat("x", 100)),
	}
	for name, data := range ignored {
		if err := g.Validate(ctx, data); !errors.Is(err, p2p.ErrIgnore) {
			t.Errorf("%s: %v, want ErrIgnore", name, err)
		}
	}
	if err := g.Validate(ctx, []byte("a:2:bad")); err == nil || errors.Is(err, p2p.ErrIgnore) {
		t.Errorf("malformed tx: %v, want a rejection", err)
	}
}

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
