package nodetest

import (
	"bytes"
	"errors"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/consensus"
	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/ledger/state"
	"github.com/govnode/govnode/ledger/state/proof"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// WantCode fails the test unless err is a Connect error with code and a
// non-empty message.
func WantCode(t testing.TB, err error, code connect.Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("want a %v error, got success", code)
	}
	if got := connect.CodeOf(err); got != code {
		t.Fatalf("want code %v, got %v: %v", code, got, err)
	}
	var ce *connect.Error
	if !errors.As(err, &ce) || ce.Message() == "" {
		t.Fatalf("%v error without a message: %v", code, err)
	}
}

// ConsensusConfig is the configuration a light client needs to check
// commit certificates: the chain's id, genesis hash, validator keys and
// fault model, as Status reports them.
func ConsensusConfig(st *pb.StatusResponse) consensus.Config {
	cfg := consensus.DefaultConfig()
	cfg.ChainID = st.GetChainId()
	cfg.Suite, _ = crypto.SuiteByName(st.GetCryptoSuite()) // an unknown suite fails the checks below
	cfg.GenesisHash = st.GetGenesisHash()
	for _, v := range st.GetValidators().GetValidators() {
		cfg.Validators = append(cfg.Validators, v.GetConsensusKey())
	}
	cfg.FaultModel = consensus.Crash
	if st.GetFaultModel() == "byzantine" {
		cfg.FaultModel = consensus.Byzantine
	}
	return cfg
}

// VerifyStateProof checks p as a client that trusts only the chain's
// configuration would: the proof proves p.Value (nil: absence) at key
// under p.StateRoot, the header attests that root at p.StateHeight, and the
// certificate (through p.Chain) proves the header committed by a quorum of
// the validators. It returns the decoded header.
func VerifyStateProof(t testing.TB, cfg consensus.Config, key []byte, p *pb.StateProof) *pb.Header {
	t.Helper()
	if p == nil {
		t.Fatal("no proof")
	}
	if !bytes.Equal(p.GetKey(), key) {
		t.Fatalf("proof is for key %q, asked %q", p.GetKey(), key)
	}
	hdr := &pb.Header{}
	if err := proto.Unmarshal(p.GetHeader(), hdr); err != nil {
		t.Fatalf("proof header: %v", err)
	}
	if !bytes.Equal(hdr.GetStateRoot(), p.GetStateRoot()) || hdr.GetStateHeight() != p.GetStateHeight() {
		t.Fatalf("proof's state root %x at %d is not the header's %x at %d",
			p.GetStateRoot(), p.GetStateHeight(), hdr.GetStateRoot(), hdr.GetStateHeight())
	}
	if len(p.GetStateRoot()) != len(state.Hash{}) {
		t.Fatalf("state root is %d bytes", len(p.GetStateRoot()))
	}
	var root state.Hash
	copy(root[:], p.GetStateRoot())
	pr, err := state.UnmarshalProof(p.GetProof())
	if err != nil {
		t.Fatalf("UnmarshalProof: %v", err)
	}
	if err := state.Verify(proof.Hasher(cfg.Suite), root, key, p.GetValue(), pr); err != nil {
		t.Fatalf("state.Verify: %v", err)
	}
	// The proof must not prove anything else.
	forged := append(append([]byte(nil), p.GetValue()...), 'x')
	if state.Verify(proof.Hasher(cfg.Suite), root, key, forged, pr) == nil {
		t.Fatal("the proof also verifies a forged value")
	}
	if err := consensus.VerifyCommit(cfg, &pb.Block{Header: p.GetHeader()}, p.GetCert(), p.GetChain()); err != nil {
		t.Fatalf("VerifyCommit of the proof's header: %v", err)
	}
	return hdr
}

// VerifyBlock checks a GetBlock answer: the hash is the header's, the
// decoded header is the serialized one, the tx root covers the txs, and the
// certificate proves the block committed (chain: serialized headers from
// the block's child up to the certificate's block, the ledger's later
// blocks; ignored when the certificate carries its own, as the ledger
// stores it for a block committed indirectly, ARCHITECTURE.md §4
// "Reconfiguration").
func VerifyBlock(t testing.TB, cfg consensus.Config, b *pb.GetBlockResponse, chain [][]byte) {
	t.Helper()
	raw := b.GetBlock().GetHeader()
	if !bytes.Equal(b.GetHash(), cfg.Suite.Hash(raw)) {
		t.Fatalf("block %d: hash %x is not the header's %x", b.GetHeight(), b.GetHash(), cfg.Suite.Hash(raw))
	}
	hdr := &pb.Header{}
	if err := proto.Unmarshal(raw, hdr); err != nil {
		t.Fatalf("block %d: header: %v", b.GetHeight(), err)
	}
	if !proto.Equal(hdr, b.GetHeader()) || hdr.GetHeight() != b.GetHeight() || hdr.GetChainId() != cfg.ChainID {
		t.Fatalf("block %d: decoded header %v differs from the block's %v", b.GetHeight(), b.GetHeader(), hdr)
	}
	hashes := make([][]byte, len(b.GetBlock().GetTxs()))
	for i, tx := range b.GetBlock().GetTxs() {
		hashes[i] = cfg.Suite.Hash(tx)
	}
	if !bytes.Equal(hdr.GetTxRoot(), cfg.Suite.MerkleRoot(hashes)) || int(hdr.GetTxCount()) != len(hashes) {
		t.Fatalf("block %d: tx root does not cover its %d txs", b.GetHeight(), len(hashes))
	}
	if len(b.GetCert().GetChain()) > 0 {
		chain = nil
	}
	if err := consensus.VerifyCommit(cfg, b.GetBlock(), b.GetCert(), chain); err != nil {
		t.Fatalf("block %d: VerifyCommit: %v", b.GetHeight(), err)
	}
}
