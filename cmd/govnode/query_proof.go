package main

// Proof checking for `query ... --prove` (ARCHITECTURE.md §3 step 6, §5 "State
// commitment"). A StateProof is checked in three steps, none of which trusts
// the node that answered:
//
//  1. tree: the value (or its absence) at the expected key hashes up to
//     state_root (state.Verify over the decoded state.Proof);
//  2. header: the serialized header names that state_root and state_height
//     and the chain id;
//  3. commit: the header is committed, by consensus.VerifyCommit over the
//     commit certificate and the chain of headers up to the certified block,
//     against a validator set taken from the genesis document (--genesis,
//     the test network's genesis, or the home's), not from the answer.
//
// The object the node returned must also be exactly the proven value.

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/consensus"
	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/genesis"
	"github.com/govnode/govnode/ledger/state"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// ErrProof wraps every reason a proof is refused.
var ErrProof = errors.New("proof NOT verified")

func proofErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrProof, fmt.Sprintf(format, a...))
}

// trustAnchor is what a proof is checked against: the chain id and the
// validator set, from a genesis document when one is known.
type trustAnchor struct {
	chainID     string
	genesisHash []byte
	validators  []*pb.PublicKey
	faultModel  string
	// source names where the validator set came from, for the output.
	source string
}

// anchorFromGenesis builds a trust anchor from a genesis document.
func anchorFromGenesis(doc *pb.GenesisDoc, source string) (*trustAnchor, error) {
	h, err := genesis.Hash(doc)
	if err != nil {
		return nil, err
	}
	a := &trustAnchor{chainID: doc.GetChainId(), genesisHash: h, faultModel: doc.GetFaultModel(), source: source}
	for _, v := range doc.GetValidators() {
		a.validators = append(a.validators, v.GetConsensusKey())
	}
	if len(a.validators) == 0 {
		return nil, fmt.Errorf("genesis %s has no validators", source)
	}
	return a, nil
}

// proveFlags are the flags of queries that can ask for a proof.
type proveFlags struct {
	prove   bool
	genesis string
	testnet string
}

func addProveFlags(cmd *cobra.Command, pf *proveFlags) {
	cmd.Flags().BoolVar(&pf.prove, "prove", false, "ask for a proof and verify it against a committed header and its commit certificate")
	cmd.Flags().StringVar(&pf.genesis, "genesis", "", "genesis file whose validator set --prove trusts (default: --testnet's, else the home's)")
	cmd.Flags().StringVar(&pf.testnet, "testnet", "", "local test network directory (its genesis.json anchors --prove)")
}

// anchor finds the genesis that --prove trusts. Without one, the validator
// set in the answer is used and a warning says so.
func (c *cli) anchor(cmd *cobra.Command, pf *proveFlags) (*trustAnchor, error) {
	path := pf.genesis
	if path == "" && pf.testnet != "" {
		path = filepath.Join(pf.testnet, "genesis.json")
	}
	if path == "" {
		cfg, err := c.homeConfig()
		if err != nil {
			return nil, fmt.Errorf("--prove: home config: %w", err)
		}
		if cfg != nil {
			path = cfg.ResolvePath(cfg.GenesisFile)
		}
	}
	if path == "" {
		warn(cmd, "no genesis to anchor the proof: the validator set comes from the node's own answer; give --genesis FILE to verify it independently")
		return nil, nil
	}
	doc, err := genesis.Load(path)
	if err != nil {
		return nil, fmt.Errorf("--prove: %w", err)
	}
	return anchorFromGenesis(doc, path)
}

// proofResult is what a verified proof establishes.
type proofResult struct {
	BlockHeight  uint64 `json:"block_height"`
	BlockHash    string `json:"block_hash"`
	StateHeight  uint64 `json:"state_height"`
	StateRoot    string `json:"state_root"`
	Key          string `json:"key"`
	Present      bool   `json:"present"`
	Signers      int    `json:"signers"`
	Validators   int    `json:"validators"`
	Quorum       int    `json:"quorum"`
	ValidatorSet string `json:"validator_set"`
}

func (r *proofResult) view() viewV {
	return viewV{}.with("verified", true).with("block_height", r.BlockHeight).with("block_hash", r.BlockHash).
		with("state_height", r.StateHeight).with("state_root", r.StateRoot).with("key", r.Key).
		with("present", r.Present).with("signers", uint64(r.Signers)).with("validators", uint64(r.Validators)).
		with("quorum", uint64(r.Quorum)).with("validator_set", r.ValidatorSet)
}

func (r *proofResult) String() string {
	return fmt.Sprintf("proof verified against block %d (commit certificate signed by %d of %d validators)", r.BlockHeight, r.Signers, r.Validators)
}

// verifyStateProof checks p proves value at key (value nil: key absent).
// anchor may be nil (then p's own validator set is used); chainID is the
// chain the caller expects.
func verifyStateProof(p *pb.StateProof, key, value []byte, chainID string, anchor *trustAnchor) (*proofResult, error) {
	if p == nil {
		return nil, proofErr("the node sent no proof")
	}
	if !bytes.Equal(p.GetKey(), key) {
		return nil, proofErr("the proof is for key %q, not %q", p.GetKey(), key)
	}
	if value != nil && !bytes.Equal(p.GetValue(), value) {
		return nil, proofErr("the proven value is not the value the node returned")
	}
	if value == nil && len(p.GetValue()) != 0 {
		return nil, proofErr("the proof carries a value for a key the node says is absent")
	}

	// 1. The tree.
	if len(p.GetStateRoot()) != len(state.Hash{}) {
		return nil, proofErr("state root is %d bytes", len(p.GetStateRoot()))
	}
	root := state.Hash(p.GetStateRoot())
	tp, err := state.UnmarshalProof(p.GetProof())
	if err != nil {
		return nil, proofErr("tree proof: %v", err)
	}
	if err := state.Verify(root, key, value, tp); err != nil {
		return nil, proofErr("tree proof does not lead to state root %x: %v", root[:], err)
	}

	// 2. The header attests the root.
	hdr := &pb.Header{}
	if err := proto.Unmarshal(p.GetHeader(), hdr); err != nil || len(p.GetHeader()) == 0 {
		return nil, proofErr("header does not decode")
	}
	if !bytes.Equal(hdr.GetStateRoot(), p.GetStateRoot()) {
		return nil, proofErr("header at height %d has state root %x, the proof %x", hdr.GetHeight(), hdr.GetStateRoot(), p.GetStateRoot())
	}
	if hdr.GetStateHeight() != p.GetStateHeight() {
		return nil, proofErr("header at height %d attests state height %d, the proof claims %d", hdr.GetHeight(), hdr.GetStateHeight(), p.GetStateHeight())
	}
	if chainID != "" && hdr.GetChainId() != chainID {
		return nil, proofErr("header is of chain %q, want %q", hdr.GetChainId(), chainID)
	}

	// 3. The header is committed, signed by a quorum of a trusted set.
	cfg := consensus.Config{ChainID: hdr.GetChainId()}
	res := &proofResult{
		BlockHeight: hdr.GetHeight(), BlockHash: fmt.Sprintf("%x", crypto.Hash(p.GetHeader())),
		StateHeight: p.GetStateHeight(), StateRoot: fmt.Sprintf("%x", p.GetStateRoot()), Key: string(key), Present: value != nil,
	}
	if anchor != nil {
		if anchor.chainID != hdr.GetChainId() {
			return nil, proofErr("header is of chain %q, the genesis of chain %q", hdr.GetChainId(), anchor.chainID)
		}
		if pv := p.GetValidators(); pv != nil && !sameKeys(pv, anchor.validators) {
			return nil, proofErr("the proof's validator set (effective from height %d) differs from the genesis set in %s: "+
				"following validator-set changes is not supported yet", pv.GetEffectiveHeight(), anchor.source)
		}
		cfg.Validators, cfg.GenesisHash, cfg.FaultModel = anchor.validators, anchor.genesisHash, consensus.FaultModel(anchor.faultModel)
		res.ValidatorSet = "genesis " + anchor.source
	} else {
		for _, d := range p.GetValidators().GetValidators() {
			cfg.Validators = append(cfg.Validators, d.GetConsensusKey())
		}
		cfg.FaultModel = consensus.FaultModel(p.GetValidators().GetFaultModel())
		res.ValidatorSet = "from the node's answer (not independently anchored)"
	}
	if len(cfg.Validators) == 0 {
		return nil, proofErr("no validator set to check the commit certificate against")
	}
	if cfg.FaultModel != consensus.Crash && cfg.FaultModel != consensus.Byzantine {
		return nil, proofErr("unknown fault model %q", cfg.FaultModel)
	}
	if err := consensus.VerifyCommit(cfg, &pb.Block{Header: p.GetHeader()}, p.GetCert(), p.GetChain()); err != nil {
		return nil, proofErr("header at height %d is not proven committed: %v", hdr.GetHeight(), err)
	}
	res.Signers = len(p.GetCert().GetChildQc().GetSigs())
	res.Validators = len(cfg.Validators)
	res.Quorum = consensus.Quorum(cfg.FaultModel, len(cfg.Validators))
	return res, nil
}

func sameKeys(vs *pb.ValidatorSet, keys []*pb.PublicKey) bool {
	if len(vs.GetValidators()) != len(keys) {
		return false
	}
	for i, d := range vs.GetValidators() {
		if !crypto.PublicKeyEqual(d.GetConsensusKey(), keys[i]) {
			return false
		}
	}
	return true
}

// provenObject checks that the object the node returned is the proven
// value: the value must decode into the same message.
func provenObject(value []byte, got proto.Message) error {
	want := got.ProtoReflect().New().Interface()
	if err := proto.Unmarshal(value, want); err != nil {
		return proofErr("the proven value does not decode as %s: %v", got.ProtoReflect().Descriptor().Name(), err)
	}
	if !proto.Equal(want, got) {
		return proofErr("the %s the node returned differs from the proven value", got.ProtoReflect().Descriptor().Name())
	}
	return nil
}
