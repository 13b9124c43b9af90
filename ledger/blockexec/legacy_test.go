package blockexec

import (
	"errors"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/consensus"
	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/state"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// A ledger whose state puts a set in force from height 3 reopens when the
// header at 3 names that set (this binary applied it), and is refused with
// ErrUnappliedSetChange when it names the genesis set, as the headers of a
// binary before live membership did: that binary recorded the change and
// never applied it, and this one could neither verify those blocks nor
// agree with the nodes still running it.
func TestLedgerWithAnUnappliedSetChangeRefused(t *testing.T) {
	k, err := crypto.GenerateKey(pb.KeyScheme_KEY_SCHEME_ED25519, rand.NewChaCha8([32]byte{'l', 'e', 'g'}))
	if err != nil {
		t.Fatal(err)
	}
	vs := &pb.ValidatorSet{FaultModel: "crash", EffectiveHeight: 3, Validators: []*pb.Department{{Id: "deptL", ConsensusKey: k.Public()}}}
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(vs)
	if err != nil {
		t.Fatal(err)
	}
	for _, legacy := range []bool{false, true} {
		a := newTestAppWith(t, []state.Change{{Key: exec.ValidatorSetKey(3), Value: raw}})
		_, genesisHash := a.Validators()
		for h := uint64(1); h <= 4; h++ {
			hdr, err := a.BuildPayload(consensus.ProposeSlot{Height: h, StateHeight: h - 1}, nil)
			if err != nil {
				t.Fatal(err)
			}
			hdr.ChainId, hdr.Height = "app-test", h
			if h > 1 {
				prev, _ := a.Head()
				hdr.ParentHash = crypto.Ed25519SHA256.Hash(prev.GetHeader())
			}
			if legacy {
				hdr.ValidatorSetHash = genesisHash // the old binary's header
			}
			hb, err := proto.Marshal(hdr)
			if err != nil {
				t.Fatal(err)
			}
			cb := consensus.CommittedBlock{Height: h, Hash: crypto.Ed25519SHA256.Hash(hb), Block: &pb.Block{Header: hb}, Header: hdr,
				Cert: &pb.CommitCert{Height: h, BlockHash: crypto.Ed25519SHA256.Hash(hb)}}
			if err := a.Commit([]consensus.CommittedBlock{cb}); err != nil {
				t.Fatal(err)
			}
		}
		_, err = New("app-test", a.store, a.exec, fixedClock{time.Unix(1_800_000_000, 0)}, slog.New(slog.DiscardHandler), testMetrics())
		switch {
		case !legacy && err != nil:
			t.Fatalf("reopening a ledger that applied its set change: %v", err)
		case legacy && !errors.Is(err, ErrUnappliedSetChange):
			t.Fatalf("reopening a ledger whose set change was never applied: %v, want ErrUnappliedSetChange", err)
		case legacy:
			t.Logf("refused: %v", err)
		}
	}
}
