package blockexec

import (
	"math/rand/v2"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/consensus"
	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/state"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// rootCertChain is an executor whose genesis set (newTestAppWith's one
// department) hands over to another at height 4, so block 3 ends its
// epoch, with block 1 committed; and blocks 2..5 built above it, 4 and 5
// being the old set's suffix, with the certificate that commits block 4
// directly (child 5, same view, signed by the genesis set).
func rootCertChain(t *testing.T) (*Executor, consensus.Config, []consensus.CommittedBlock, *pb.CommitCert) {
	t.Helper()
	return rootCertChainN(t, 4, 5)
}

// rootCertChainN is rootCertChain with the next set in force from e (0:
// no next set) and blocks 1..top, each of its own view but the last, whose
// certificate commits block top-1 directly.
func rootCertChainN(t *testing.T, e, top uint64) (*Executor, consensus.Config, []consensus.CommittedBlock, *pb.CommitCert) {
	t.Helper()
	next := &pb.ValidatorSet{FaultModel: "crash", EffectiveHeight: e}
	k, err := crypto.GenerateKey(pb.KeyScheme_KEY_SCHEME_ED25519, rand.NewChaCha8([32]byte{'n', 'e', 'x', 't'}))
	if err != nil {
		t.Fatal(err)
	}
	next.Validators = []*pb.Department{{Id: "deptN", ConsensusKey: k.Public()}}
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(next)
	if err != nil {
		t.Fatal(err)
	}
	var extra []state.Change
	if e > 0 {
		extra = append(extra, state.Change{Key: exec.ValidatorSetKey(e), Value: raw})
	}
	a := newTestAppWith(t, extra)
	// The genesis key, as newTestAppWith draws it.
	key, err := crypto.GenerateKey(pb.KeyScheme_KEY_SCHEME_ED25519, rand.NewChaCha8([32]byte{'a', 'p', 'p'}))
	if err != nil {
		t.Fatal(err)
	}
	cfg := consensus.DefaultConfig()
	cfg.ChainID, cfg.FaultModel, cfg.Validators = "app-test", consensus.Crash, []*pb.PublicKey{key.Public()}

	var bs []consensus.CommittedBlock
	parent := []byte(nil)
	for h := uint64(1); h <= top; h++ {
		hdr, err := a.BuildPayload(consensus.ProposeSlot{Height: h}, nil)
		if err != nil {
			t.Fatal(err)
		}
		// Views 1, 2, ..., top-1, top-1: blocks 2..top-2 are committed
		// through top-1.
		hdr.ChainId, hdr.Height, hdr.View, hdr.ParentHash = "app-test", h, min(h, top-1), parent
		hb, err := proto.Marshal(hdr)
		if err != nil {
			t.Fatal(err)
		}
		bs = append(bs, consensus.CommittedBlock{Height: h, Hash: crypto.Ed25519SHA256.Hash(hb), Block: &pb.Block{Header: hb}, Header: hdr})
		parent = crypto.Ed25519SHA256.Hash(hb)
	}
	sign := func(child consensus.CommittedBlock) *pb.QuorumCert {
		qc := &pb.QuorumCert{View: child.Header.GetView(), Height: child.Height, BlockHash: child.Hash}
		sig, err := key.Sign(crypto.VoteSignBytes(cfg.Domain(), qc.GetView(), qc.GetHeight(), qc.GetBlockHash()))
		if err != nil {
			t.Fatal(err)
		}
		qc.Sigs = []*pb.ValidatorSig{{Validator: 0, Signature: sig}}
		return qc
	}
	// Block 1 committed directly by its child.
	bs[0].Cert = &pb.CommitCert{Height: 1, BlockHash: bs[0].Hash, ChildHeader: bs[1].Block.GetHeader(), ChildQc: sign(bs[1])}
	if err := a.Commit(bs[:1]); err != nil {
		t.Fatal(err)
	}
	cert := &pb.CommitCert{Height: top - 1, BlockHash: bs[top-2].Hash, ChildHeader: bs[top-1].Block.GetHeader(), ChildQc: sign(bs[top-1])}
	for i := 1; i < int(top); i++ {
		bs[i].Cert = cert
	}
	return a, cfg, bs, cert
}

// storedCert is the certificate the ledger holds for block h.
func storedCert(t *testing.T, a *Executor, h uint64) *pb.CommitCert {
	t.Helper()
	raw, err := a.store.CommitCert(h)
	if err != nil {
		t.Fatal(err)
	}
	c := &pb.CommitCert{}
	if err := proto.Unmarshal(raw, c); err != nil {
		t.Fatal(err)
	}
	return c
}

// A commit that ends an epoch at block L = 3 through a certificate of the
// old set's suffix (block 4, never stored: ARCHITECTURE.md §4
// "Reconfiguration") stores the certificates of L and L-1 with the headers
// that link them to block 4, so each proves its block with no other block:
// the ledger's block 4 will be the new set's.
func TestRootCertificateIsSelfContained(t *testing.T) {
	a, cfg, bs, cert := rootCertChain(t)
	if err := a.Commit(bs[1:]); err != nil {
		t.Fatal(err)
	}
	if head, _ := a.store.Height(); head != 3 {
		t.Fatalf("ledger at %d after the epoch's end, want 3 (the suffix is not executed)", head)
	}
	if ep, _ := a.Epoch(); ep.Start != 4 {
		t.Fatalf("epoch %d in force, want 4", ep.Start)
	}
	for h := uint64(2); h <= 3; h++ {
		c := storedCert(t, a, h)
		if len(c.GetChain()) != int(4-h) {
			t.Fatalf("block %d: stored certificate carries %d headers, want %d", h, len(c.GetChain()), 4-h)
		}
		if err := consensus.VerifyCommit(cfg, bs[h-1].Block, c, nil); err != nil {
			t.Fatalf("block %d: stored certificate does not verify alone: %v", h, err)
		}
	}
	if len(cert.GetChain()) != 0 {
		t.Fatal("Commit changed the certificate consensus handed over")
	}
}

// Without the headers between, a certificate that commits a block above a
// known epoch's end is not stored: nobody could verify it.
func TestRootCertificateWithoutItsChainIsRefused(t *testing.T) {
	a, _, bs, _ := rootCertChain(t)
	err := a.Commit(bs[1:3])
	if err == nil || !strings.Contains(err.Error(), "could not be verified") {
		t.Fatalf("Commit = %v, want a refusal", err)
	}
	if head, _ := a.store.Height(); head != 1 {
		t.Fatalf("ledger moved to %d", head)
	}
}

// A certificate that already carries its chain (block sync passes the
// stored ones on) is stored as it came.
func TestCertificateWithChainIsKept(t *testing.T) {
	a, cfg, bs, cert := rootCertChain(t)
	own := proto.Clone(cert).(*pb.CommitCert)
	own.Chain = [][]byte{bs[2].Block.GetHeader(), bs[3].Block.GetHeader()}
	bs[1].Cert = own
	if err := a.Commit(bs[1:2]); err != nil {
		t.Fatal(err)
	}
	if c := storedCert(t, a, 2); !proto.Equal(c, own) {
		t.Fatal("stored certificate differs from the one given")
	} else if err := consensus.VerifyCommit(cfg, bs[1].Block, c, nil); err != nil {
		t.Fatal(err)
	}
}

// A certificate linked to its block by more than certChainAlways headers
// is stored as it is, relying on the ledger's later blocks, when no
// change of validator set ends the epoch in between (the ledger does not
// grow by the square of a long run of view changes); when one does, the
// whole chain is attached, whatever its length, and the stored
// certificate of the epoch's first blocks verifies alone.
func TestLongCertificateChainAttachedWhenAnEpochEndsInside(t *testing.T) {
	const top = certChainAlways + 12
	a, _, bs, _ := rootCertChainN(t, 0, top)
	if err := a.Commit(bs[1:]); err != nil {
		t.Fatal(err)
	}
	if c := storedCert(t, a, 2); len(c.GetChain()) != 0 {
		t.Fatalf("no epoch end: block 2's certificate carries %d headers, want none (above %d)", len(c.GetChain()), certChainAlways)
	}
	if c := storedCert(t, a, top-4); len(c.GetChain()) != 3 {
		t.Fatalf("block %d's certificate carries %d headers, want 3", top-4, len(c.GetChain()))
	}

	const e = top - 3
	a, cfg, bs, _ := rootCertChainN(t, e, top)
	if err := a.Commit(bs[1:]); err != nil {
		t.Fatal(err)
	}
	if head, _ := a.store.Height(); head != e-1 {
		t.Fatalf("ledger at %d, want the epoch's end %d", head, e-1)
	}
	for _, h := range []uint64{2, e - 1} {
		c := storedCert(t, a, h)
		if want := int(top - 1 - h); len(c.GetChain()) != want {
			t.Fatalf("block %d: stored certificate carries %d headers, want %d", h, len(c.GetChain()), want)
		}
		if err := consensus.VerifyCommit(cfg, bs[h-1].Block, c, nil); err != nil {
			t.Fatalf("block %d: stored certificate does not verify alone: %v", h, err)
		}
	}
}
