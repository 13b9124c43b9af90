package evidence

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/exec/exectest"
	"github.com/govnode/govnode/ledger/store"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// After a governed rotation of d1's consensus key, the set in force and
// d1's validator identity name the new key; the node holds the old key
// (its key file) and the new one (the pending key). The pool finds itself
// by the new key and signs the evidence tx with it; an identity keyed by
// a key the node does not hold submits nothing.
func TestEvidenceSignedWithTheKeyInForce(t *testing.T) {
	oldKey, newKey := exectest.NewKey("d1/old"), exectest.NewKey("d1/new")
	vs := &pb.ValidatorSet{FaultModel: "byzantine"}
	for i := range 4 {
		k := exectest.NewKey(fmt.Sprintf("d%d", i)).Public()
		if i == 1 {
			k = newKey.Public()
		}
		vs.Validators = append(vs.Validators, &pb.Department{Id: fmt.Sprintf("d%d", i), ConsensusKey: k})
	}
	ev := &pb.EquivocationEvidence{
		VoteA: &pb.Vote{View: 3, Height: 9, BlockHash: []byte("a"), Voter: 0},
		VoteB: &pb.Vote{View: 3, Height: 9, BlockHash: []byte("b"), Voter: 0},
	}
	for _, tc := range []struct {
		name     string
		identity *pb.PublicKey
		want     string // "" for a submission
	}{
		{"identity keyed by the new key", newKey.Public(), ""},
		{"identity keyed by a key the node does not hold", exectest.NewKey("elsewhere").Public(), "not active with one of this node's consensus keys"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := exectest.NewStore()
			idn, err := proto.Marshal(&pb.Identity{Id: "d1-validator", Kind: pb.IdentityKind_IDENTITY_KIND_OFFICIAL, DepartmentId: "d1",
				PublicKey: tc.identity, Status: pb.IdentityStatus_IDENTITY_STATUS_ACTIVE})
			if err != nil {
				t.Fatal(err)
			}
			st.Apply([]exec.Change{{Key: exec.IdentityKey("d1-validator"), Value: idn}})
			var sent [][]byte
			p, err := New(Deps{
				ChainID: exectest.ChainID, Keys: []crypto.PrivateKey{oldKey, newKey},
				Validators: func() *pb.ValidatorSet { return vs }, State: st,
				Submit: func(_ context.Context, tx []byte) ([]byte, error) { sent = append(sent, tx); return []byte("h"), nil },
				WaitForTx: func(context.Context, []byte) (store.TxLocation, *pb.TxResult, error) {
					return store.TxLocation{}, &pb.TxResult{}, nil
				},
				Logger: slog.New(slog.DiscardHandler),
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err = p.submit(ctx, ev)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) || len(sent) != 0 {
					t.Fatalf("submit: %v, %d txs sent; want %q and nothing sent", err, len(sent), tc.want)
				}
				return
			}
			if err != nil || len(sent) != 1 {
				t.Fatalf("submit: %v, %d txs sent", err, len(sent))
			}
			stx, body := &pb.SignedTx{}, &pb.TxBody{}
			if err := proto.Unmarshal(sent[0], stx); err != nil || proto.Unmarshal(stx.GetBody(), body) != nil {
				t.Fatal(err)
			}
			sb := crypto.TxSignBytes(exectest.ChainID, stx.GetBody())
			if body.GetSigner() != "d1-validator" || crypto.Verify(newKey.Public(), sb, stx.GetSignature()) != nil {
				t.Fatalf("evidence tx by %s does not verify under the new key", body.GetSigner())
			}
			if crypto.Verify(oldKey.Public(), sb, stx.GetSignature()) == nil {
				t.Fatal("evidence tx signed by the rotated-out key")
			}
		})
	}
	if _, err := New(Deps{Keys: []crypto.PrivateKey{nil}}); err == nil {
		t.Fatal("a pool with a nil key was built")
	}
}

// Once evidence against a validator is on chain in an epoch, more
// equivocations of that validator in the epoch are not submitted: a liar
// equivocating at every height would otherwise keep the chain making a
// block per piece of evidence. Evidence that did not reach the chain
// proves nothing yet, so the next equivocation is submitted.
func TestEvidenceOncePerValidatorAndEpoch(t *testing.T) {
	keys := make([]crypto.PrivateKey, 4)
	vs := &pb.ValidatorSet{FaultModel: "byzantine"}
	for i := range keys {
		keys[i] = exectest.NewKey(fmt.Sprintf("d%d", i))
		vs.Validators = append(vs.Validators, &pb.Department{Id: fmt.Sprintf("d%d", i), ConsensusKey: keys[i].Public()})
	}
	st := exectest.NewStore()
	idn, err := proto.Marshal(&pb.Identity{Id: "d1-validator", Kind: pb.IdentityKind_IDENTITY_KIND_OFFICIAL, DepartmentId: "d1",
		PublicKey: keys[1].Public(), Status: pb.IdentityStatus_IDENTITY_STATUS_ACTIVE})
	if err != nil {
		t.Fatal(err)
	}
	st.Apply([]exec.Change{{Key: exec.IdentityKey("d1-validator"), Value: idn}})
	record := true // whether a submitted evidence tx puts the evidence on chain
	var sent []*pb.EquivocationEvidence
	p, err := New(Deps{
		ChainID: exectest.ChainID, Keys: []crypto.PrivateKey{keys[1]},
		Validators: func() *pb.ValidatorSet { return vs }, State: st,
		Submit: func(_ context.Context, tx []byte) ([]byte, error) {
			stx, body := &pb.SignedTx{}, &pb.TxBody{}
			if err := proto.Unmarshal(tx, stx); err != nil {
				return nil, err
			}
			if err := proto.Unmarshal(stx.GetBody(), body); err != nil {
				return nil, err
			}
			ev := body.GetSubmitEvidence().GetEvidence()
			sent = append(sent, ev)
			if record {
				raw, _ := proto.Marshal(ev)
				st.Apply([]exec.Change{{Key: exec.EvidenceKey("d0", ev.GetVoteA().GetView(), ev.GetVoteA().GetHeight()), Value: raw}})
			}
			return []byte("h"), nil
		},
		WaitForTx: func(context.Context, []byte) (store.TxLocation, *pb.TxResult, error) {
			return store.TxLocation{}, &pb.TxResult{}, nil
		},
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	at := func(h uint64) *pb.EquivocationEvidence {
		return &pb.EquivocationEvidence{
			VoteA: &pb.Vote{View: 3, Height: h, BlockHash: []byte("a"), Voter: 0},
			VoteB: &pb.Vote{View: 3, Height: h, BlockHash: []byte("b"), Voter: 0},
		}
	}
	record = false
	for _, h := range []uint64{9, 10} {
		if err := p.submit(ctx, at(h)); err != nil {
			t.Fatal(err)
		}
	}
	if len(sent) != 2 {
		t.Fatalf("%d submissions of evidence that never reached the chain, want 2 (each is tried)", len(sent))
	}
	record = true
	for _, h := range []uint64{11, 12, 13} {
		if err := p.submit(ctx, at(h)); err != nil {
			t.Fatal(err)
		}
	}
	if len(sent) != 3 || sent[2].GetVoteA().GetHeight() != 11 {
		t.Fatalf("after evidence at height 11 reached the chain, %d submissions in all (last at %d), want 3: heights 12 and 13 not submitted",
			len(sent), sent[len(sent)-1].GetVoteA().GetHeight())
	}
}
