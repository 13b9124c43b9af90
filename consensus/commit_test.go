package consensus_test

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/consensus"
	"github.com/govnode/govnode/consensus/consensustest"
	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// certChain is a chain of n headers of cfg's chain from genesis, the last
// two of one view, and the certificate that commits block n-1 directly.
func certChain(t *testing.T, cfg consensus.Config, keys []crypto.PrivateKey, n int) ([][]byte, *pb.CommitCert) {
	t.Helper()
	var hdrs [][]byte
	parent := cfg.GenesisHash
	for h := 1; h <= n; h++ {
		view := uint64(h) // a view change at every block: each is committed indirectly
		if h == n {
			view = uint64(n - 1)
		}
		raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(&pb.Header{ChainId: cfg.ChainID, Height: uint64(h), View: view, ParentHash: parent})
		if err != nil {
			t.Fatal(err)
		}
		hdrs = append(hdrs, raw)
		parent = crypto.Ed25519SHA256.Hash(raw)
	}
	child := hdrs[n-1]
	qc := &pb.QuorumCert{View: uint64(n - 1), Height: uint64(n), BlockHash: crypto.Ed25519SHA256.Hash(child)}
	for i, k := range keys {
		sig, err := k.Sign(crypto.VoteSignBytes(cfg.Domain(), qc.GetView(), qc.GetHeight(), qc.GetBlockHash()))
		if err != nil {
			t.Fatal(err)
		}
		qc.Sigs = append(qc.Sigs, &pb.ValidatorSig{Validator: uint32(i), Signature: sig})
	}
	return hdrs, &pb.CommitCert{Height: uint64(n - 1), BlockHash: crypto.Ed25519SHA256.Hash(hdrs[n-2]), ChildHeader: child, ChildQc: qc}
}

// A certificate that carries the chain of headers from the block it proves
// up to the block it commits directly (pb.CommitCert.chain) proves the
// block on its own: the ledger stores such certificates for the blocks that
// end an epoch when the old set's suffix, never stored, committed them
// (ARCHITECTURE.md §4, "Reconfiguration"). A tampered, overlong or short
// chain is refused, and so is a second chain given with it.
func TestVerifyCommitWithCertChain(t *testing.T) {
	keys := consensustest.Keys(4, 7)
	cfg := consensustest.Config(keys, consensus.Byzantine)
	hdrs, cert := certChain(t, cfg, keys, 6) // cert commits block 5 directly
	block := func(h int) *pb.Block { return &pb.Block{Header: hdrs[h-1]} }
	withChain := func(h int) *pb.CommitCert {
		c := proto.Clone(cert).(*pb.CommitCert)
		c.Chain = append([][]byte(nil), hdrs[h:cert.GetHeight()]...)
		return c
	}
	// Without a chain, an ancestor is not proven; with its own, it is.
	if err := consensus.VerifyCommit(cfg, block(2), cert, nil); !errors.Is(err, consensus.ErrInvalid) {
		t.Fatalf("ancestor without a chain: %v", err)
	}
	for h := 1; h <= 4; h++ {
		if err := consensus.VerifyCommit(cfg, block(h), withChain(h), nil); err != nil {
			t.Fatalf("block %d with the certificate's chain: %v", h, err)
		}
	}
	if err := consensus.VerifyCommit(cfg, block(5), cert, nil); err != nil {
		t.Fatalf("block 5 committed directly: %v", err)
	}
	// A chain passed by the caller still works for a certificate without one.
	if err := consensus.VerifyCommit(cfg, block(3), cert, hdrs[3:5]); err != nil {
		t.Fatalf("block 3 with the caller's chain: %v", err)
	}

	tampered := func(mut func(c *pb.CommitCert)) *pb.CommitCert {
		c := withChain(2)
		mut(c)
		return c
	}
	otherHdr := func(i int) func(c *pb.CommitCert) {
		return func(c *pb.CommitCert) {
			h := &pb.Header{}
			if err := proto.Unmarshal(c.Chain[i], h); err != nil {
				t.Fatal(err)
			}
			h.TimeUnixMs++
			c.Chain[i], _ = proto.MarshalOptions{Deterministic: true}.Marshal(h)
		}
	}
	long := make([][]byte, consensus.MaxCertChain+1)
	for i := range long {
		long[i] = hdrs[0]
	}
	cases := []struct {
		name  string
		block int
		cert  *pb.CommitCert
		chain [][]byte
		want  string
	}{
		{"first chain header altered", 2, tampered(otherHdr(0)), nil, "does not extend"},
		{"last chain header altered", 2, tampered(otherHdr(2)), nil, "certificate is for block"},
		{"chain header dropped", 2, tampered(func(c *pb.CommitCert) { c.Chain = c.Chain[:2] }), nil, "certificate is for block"},
		{"chain from another block", 1, withChain(2), nil, "does not extend"},
		{"chain beyond the certificate's block", 2, tampered(func(c *pb.CommitCert) { c.Chain = append(c.Chain, hdrs[5]) }), nil, "certificate is for block"},
		{"undecodable header", 2, tampered(func(c *pb.CommitCert) { c.Chain[1] = []byte{0xff} }), nil, "decode chain header"},
		{"too long", 2, tampered(func(c *pb.CommitCert) { c.Chain = long }), nil, "at most"},
		{"second chain given", 2, withChain(2), hdrs[2:5], "another was given"},
	}
	for _, tc := range cases {
		err := consensus.VerifyCommit(cfg, block(tc.block), tc.cert, tc.chain)
		if !errors.Is(err, consensus.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: VerifyCommit = %v, want ErrInvalid saying %q", tc.name, err, tc.want)
		}
	}
}
