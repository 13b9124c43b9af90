package main

// Proof checking for `query ... --prove` (ARCHITECTURE.md §3 step 6, §5 "State
// commitment"). A StateProof is checked in three steps, none of which trusts
// the node that answered:
//
//  1. tree: the value (or its absence) at the expected key hashes up to
//     state_root (lightclient.CheckStateProof, over ledger/state/proof);
//  2. header: the serialized header names that state_root and state_height
//     and the chain id;
//  3. commit: the header is committed, by consensus.VerifyCommit over the
//     commit certificate and the chain of headers up to the certified block,
//     against the validator set in force at its height, reached from the
//     set of the genesis document (--genesis, the test network's genesis,
//     or the home's), not taken from the answer: each set that took force
//     after genesis is proven under the set before it
//     (lightclient.FollowValidatorSets; ARCHITECTURE.md §4, "Proofs
//     across set changes").
//
// Steps 1 to 3 are the light client's (ledger/lightclient), the one
// verifier the CLI, `govnode verify` and the portal share.
//
// The object the node returned must also be exactly the proven value.

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/consensus"
	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/genesis"
	"github.com/govnode/govnode/ledger/lightclient"
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
	if cmd.Flags().Lookup("testnet") == nil { // else addClientFlags defined it, for authentication too
		cmd.Flags().StringVar(&pf.testnet, "testnet", "", "local test network directory (its genesis.json anchors --prove)")
	}
}

// anchor finds the genesis that --prove trusts. Without one, the validator
// set in the answer is used and a warning says so.
func (c *cli) anchor(cmd *cobra.Command, pf *proveFlags) (*trustAnchor, error) {
	path := pf.genesis
	testnet := pf.testnet
	if testnet == "" {
		testnet, _ = cmd.Flags().GetString("testnet")
	}
	if path == "" && testnet != "" {
		path = filepath.Join(testnet, "genesis.json")
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
	// SetChanges is how many validator-set changes the proof followed from
	// genesis; SetFrom the first height of the set that certifies the block
	// (1 for the genesis set).
	SetChanges int    `json:"validator_set_changes"`
	SetFrom    uint64 `json:"validator_set_from"`
}

func (r *proofResult) view() viewV {
	return viewV{}.with("verified", true).with("block_height", r.BlockHeight).with("block_hash", r.BlockHash).
		with("state_height", r.StateHeight).with("state_root", r.StateRoot).with("key", r.Key).
		with("present", r.Present).with("signers", uint64(r.Signers)).with("validators", uint64(r.Validators)).
		with("quorum", uint64(r.Quorum)).with("validator_set", r.ValidatorSet).
		with("validator_set_changes", uint64(r.SetChanges)).with("validator_set_from", r.SetFrom)
}

func (r *proofResult) String() string {
	return fmt.Sprintf("proof verified against block %d (commit certificate signed by %d of %d validators)", r.BlockHeight, r.Signers, r.Validators)
}

// maxSetChanges bounds the validator-set changes one proof follows from
// genesis (the node sends at most api.MaxValidatorSetProofs).
const maxSetChanges = lightclient.MaxValidatorSets

// provenSet is a validator set a proof check trusts: the genesis set, or
// one proven under the set before it (lightclient.FollowValidatorSets).
type provenSet = lightclient.Set

// followValidatorSets is lightclient.FollowValidatorSets, its refusals
// wrapped in ErrProof. The light client holds the one copy of the walk
// from the genesis set (ARCHITECTURE.md §4, "Proofs across set changes"),
// for --prove, bundles and the portal alike.
func followValidatorSets(genesisSet *provenSet, links []*pb.StateProof, h uint64) (*provenSet, error) {
	set, err := lightclient.FollowValidatorSets(genesisSet, links, h)
	if err != nil {
		return nil, proofErr("%v", err)
	}
	return set, nil
}

// verifyStateProof checks p proves value at key (value nil: key absent).
// anchor may be nil (then p's own validator set is used); chainID is the
// chain the caller expects. With an anchor, the validator set that
// certifies p's header is reached from the genesis set through p's
// validator-set proofs (followValidatorSets).
func verifyStateProof(p *pb.StateProof, key, value []byte, chainID string, anchor *trustAnchor) (*proofResult, error) {
	if p == nil {
		return nil, proofErr("the node sent no proof")
	}
	hdr, err := lightclient.CheckStateProof(p, key, value, chainID)
	if err != nil {
		return nil, proofErr("%v", err)
	}

	// 3. The header is committed, signed by a quorum of a trusted set.
	res := &proofResult{
		BlockHeight: hdr.GetHeight(), BlockHash: fmt.Sprintf("%x", crypto.Hash(p.GetHeader())),
		StateHeight: p.GetStateHeight(), StateRoot: fmt.Sprintf("%x", p.GetStateRoot()), Key: string(key), Present: value != nil,
	}
	var set *provenSet
	if anchor != nil {
		if anchor.chainID != hdr.GetChainId() {
			return nil, proofErr("header is of chain %q, the genesis of chain %q", hdr.GetChainId(), anchor.chainID)
		}
		if m := consensus.FaultModel(anchor.faultModel); m != consensus.Crash && m != consensus.Byzantine {
			return nil, proofErr("unknown fault model %q", anchor.faultModel)
		}
		gen := &provenSet{Config: consensus.Config{ChainID: anchor.chainID, GenesisHash: anchor.genesisHash, Validators: anchor.validators,
			FaultModel: consensus.FaultModel(anchor.faultModel), Self: -1}, From: 1}
		if set, err = followValidatorSets(gen, p.GetValidatorSetProofs(), hdr.GetHeight()); err != nil {
			return nil, err
		}
		if pv := p.GetValidators(); pv != nil && !sameKeys(pv, set.Config.Validators) {
			if set.From == 1 {
				return nil, proofErr("the proof's validator set (in force from height %d) differs from the genesis set in %s, and the proof proves no validator-set change",
					pv.GetEffectiveHeight(), anchor.source)
			}
			return nil, proofErr("the proof's validator set (in force from height %d) differs from the set in force from %d that the proof leads to from the genesis in %s",
				pv.GetEffectiveHeight(), set.From, anchor.source)
		}
		res.ValidatorSet = "genesis " + anchor.source
		if n := len(p.GetValidatorSetProofs()); n > 0 {
			plural := "s"
			if n == 1 {
				plural = ""
			}
			res.ValidatorSet += fmt.Sprintf(", then %d validator-set change%s, each proven under the set before (in force from height %d)", n, plural, set.From)
		}
		res.SetChanges = len(p.GetValidatorSetProofs())
	} else {
		pv := p.GetValidators()
		var rootView uint64
		var root []byte
		if ls := p.GetValidatorSetProofs(); len(ls) > 0 && ls[len(ls)-1].GetValue() != nil {
			last := ls[len(ls)-1]
			if lh := (&pb.Header{}); proto.Unmarshal(last.GetHeader(), lh) == nil && lh.GetHeight()+1 == pv.GetEffectiveHeight() {
				root, rootView = last.GetHeader(), lh.GetView()
			}
		}
		if set, err = lightclient.SetFromRecord(consensus.Config{ChainID: hdr.GetChainId()}, pv, root, rootView); err != nil {
			return nil, proofErr("the node's validator set: %v", err)
		}
		if pv.GetEffectiveHeight() <= 1 {
			set.Hash = nil // the genesis set: its headers' hash is not checked without the genesis
		}
		res.ValidatorSet = "from the node's answer (not independently anchored)"
	}
	if err := set.CheckCommitted(hdr, p.GetHeader(), p.GetCert(), p.GetChain()); err != nil {
		return nil, proofErr("header at height %d is not proven: %v", hdr.GetHeight(), err)
	}
	res.Signers = len(p.GetCert().GetChildQc().GetSigs())
	res.Validators = len(set.Config.Validators)
	res.Quorum = consensus.Quorum(set.Config.FaultModel, len(set.Config.Validators))
	res.SetFrom = set.From
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
