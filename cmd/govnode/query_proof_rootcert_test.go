package main

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/consensus"
	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// bySuffix re-certifies the root block of proof p (height h, certified by
// set signer) as committed indirectly: by the certificate of block h+1 of
// the old set's suffix (child h+2 in the same view), which no ledger holds
// (ARCHITECTURE.md §4 "Reconfiguration"). The certificate carries the
// suffix header that links them, as the ledger stores it.
func (c *setChain) bySuffix(t *testing.T, p *pb.StateProof, signer int) *pb.StateProof {
	t.Helper()
	p = proto.Clone(p).(*pb.StateProof)
	root := &pb.Header{}
	if err := proto.Unmarshal(p.GetHeader(), root); err != nil {
		t.Fatal(err)
	}
	h, view := root.GetHeight(), root.GetView()+1
	s1, _ := proto.Marshal(&pb.Header{ChainId: c.chainID, Height: h + 1, View: view, ParentHash: crypto.Ed25519SHA256.Hash(p.GetHeader()), ValidatorSetHash: root.GetValidatorSetHash()})
	s2, _ := proto.Marshal(&pb.Header{ChainId: c.chainID, Height: h + 2, View: view, ParentHash: crypto.Ed25519SHA256.Hash(s1), ValidatorSetHash: root.GetValidatorSetHash()})
	qc := &pb.QuorumCert{View: view, Height: h + 2, BlockHash: crypto.Ed25519SHA256.Hash(s2)}
	domain := consensus.SignDomain(c.chainID, []uint64{0, 10, 20}[signer])
	for i, k := range c.setIdx[signer] {
		sig, err := c.keys[k].Sign(crypto.VoteSignBytes(domain, view, h+2, qc.GetBlockHash()))
		if err != nil {
			t.Fatal(err)
		}
		qc.Sigs = append(qc.Sigs, &pb.ValidatorSig{Validator: uint32(i), Signature: sig})
	}
	p.Cert = &pb.CommitCert{Height: h + 1, BlockHash: crypto.Ed25519SHA256.Hash(s1), ChildHeader: s2, ChildQc: qc, Chain: [][]byte{s1}}
	return p
}

// A root block committed by the old set's suffix is proven by its
// certificate alone (pb.CommitCert.chain); the next set's block at the same
// height, which is what the ledger holds there, does not link it.
func TestFollowValidatorSetsRootCommittedBySuffix(t *testing.T) {
	c := newSetChain(t)
	anchor := testAnchor(t, c.chainID, make([]byte, 32), c.genesis.Config.Validators, "byzantine", "test genesis")
	good := c.good(t)
	good.ValidatorSetProofs[0] = c.bySuffix(t, good.ValidatorSetProofs[0], 0)
	good.ValidatorSetProofs[1] = c.bySuffix(t, good.ValidatorSetProofs[1], 1)
	res, err := verifyStateProof(good, c.recKey, c.recValue, &pb.StatusResponse{ChainId: c.chainID}, anchor)
	if err != nil {
		t.Fatalf("roots committed by suffix blocks refused: %v", err)
	}
	if res.SetChanges != 2 || res.SetFrom != 20 {
		t.Errorf("result %+v", res)
	}

	refuse := func(name string, p *pb.StateProof, want string) {
		t.Helper()
		_, err := verifyStateProof(p, c.recKey, c.recValue, &pb.StatusResponse{ChainId: c.chainID}, anchor)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err %v, want %q", name, err, want)
		}
	}
	// The certificate without its chain, linked instead by the next set's
	// block 10 from the ledger (what a node sent before the chain was
	// stored).
	p := proto.Clone(good).(*pb.StateProof)
	l := p.ValidatorSetProofs[0]
	l.Cert.Chain = nil
	next, _ := proto.Marshal(&pb.Header{ChainId: c.chainID, Height: 10, View: 8, ParentHash: crypto.Ed25519SHA256.Hash(l.GetHeader()), ValidatorSetHash: c.setHash(t, 1)})
	l.Chain = [][]byte{next}
	refuse("chain of the next set's block", p, "block 9 is not proven committed")
	// A suffix header altered.
	p = proto.Clone(good).(*pb.StateProof)
	p.ValidatorSetProofs[1].Cert.Chain[0] = append([]byte(nil), p.ValidatorSetProofs[1].Cert.Chain[0]...)
	p.ValidatorSetProofs[1].Cert.Chain[0][len(p.ValidatorSetProofs[1].Cert.Chain[0])-1] ^= 1
	refuse("altered suffix header", p, "block 19 is not proven committed")
}
