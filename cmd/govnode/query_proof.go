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
//     against the validator set in force at its height, reached from the
//     set of the genesis document (--genesis, the test network's genesis,
//     or the home's), not taken from the answer: each set that took force
//     after genesis is proven under the set before it
//     (followValidatorSets; ARCHITECTURE.md §4, "Proofs across set
//     changes").
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
	"github.com/govnode/govnode/ledger/exec"
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
const maxSetChanges = 128

// provenSet is a validator set a proof check trusts: the genesis set, or
// one proven under the set before it (followValidatorSets).
type provenSet struct {
	// cfg checks certificates of the set's epoch: chain id, genesis hash,
	// epoch and root, validators, fault model.
	cfg consensus.Config
	// from is the first height the set certifies (1 for the genesis set).
	from uint64
	// hash is the hash of its ValidatorSet record, which every header it
	// certifies names; nil when not known (the genesis set, taken from the
	// genesis document, not from a record).
	hash []byte
}

// checkCommitted checks that hdr (serialized: raw), at a height the set
// certifies, is committed under it by cert and chain. A root block
// committed by a block of its set's suffix, which no ledger holds, comes
// with a certificate that carries the headers between (pb.CommitCert.chain)
// and no separate chain: consensus.VerifyCommit takes the certificate's
// and refuses a proof that gives both (ARCHITECTURE.md §4
// "Reconfiguration").
func (ps *provenSet) checkCommitted(hdr *pb.Header, raw []byte, cert *pb.CommitCert, chain [][]byte) error {
	if hdr.GetHeight() < ps.from {
		return fmt.Errorf("block %d is below height %d, where the validator set it is checked against starts", hdr.GetHeight(), ps.from)
	}
	if ps.hash != nil && !bytes.Equal(hdr.GetValidatorSetHash(), ps.hash) {
		return fmt.Errorf("block %d names validator set %x, but the set in force from %d is %x: "+
			"a validator-set change is missing from the proof, or the set is not the one in force", hdr.GetHeight(), hdr.GetValidatorSetHash(), ps.from, ps.hash)
	}
	if err := consensus.VerifyCommit(ps.cfg, &pb.Block{Header: raw}, cert, chain); err != nil {
		return fmt.Errorf("block %d is not proven committed by the validator set in force from %d (%d validators, %s): %v",
			hdr.GetHeight(), ps.from, len(ps.cfg.Validators), ps.cfg.FaultModel, err)
	}
	return nil
}

// setFromRecord is the provenSet of a ValidatorSet record in force from its
// effective height, whose epoch starts above root (the serialized header of
// block effective_height-1); base gives the chain id and genesis hash.
func setFromRecord(base consensus.Config, vs *pb.ValidatorSet, root []byte, rootView uint64) (*provenSet, error) {
	e := vs.GetEffectiveHeight()
	ep := consensus.Epoch{FaultModel: consensus.FaultModel(vs.GetFaultModel())}
	if ep.FaultModel != consensus.Crash && ep.FaultModel != consensus.Byzantine {
		return nil, fmt.Errorf("unknown fault model %q", vs.GetFaultModel())
	}
	if len(vs.GetValidators()) == 0 {
		return nil, errors.New("no validators")
	}
	for i, d := range vs.GetValidators() {
		if err := crypto.ValidatePublicKey(d.GetConsensusKey()); err != nil {
			return nil, fmt.Errorf("validator %d (%q): %v", i, d.GetId(), err)
		}
		ep.Validators = append(ep.Validators, d.GetConsensusKey())
	}
	if e > 1 {
		ep.Start = e
		if root != nil {
			ep.Root = &pb.QuorumCert{View: rootView, Height: e - 1, BlockHash: crypto.Hash(root)}
		}
	}
	hash, err := validatorSetHash(vs)
	if err != nil {
		return nil, err
	}
	return &provenSet{cfg: base.WithEpoch(ep, -1), from: max(e, 1), hash: hash}, nil
}

// validatorSetHash is the hash headers name: SHA-256 of the record's
// deterministic encoding (as ledger/blockexec computes it).
func validatorSetHash(vs *pb.ValidatorSet) ([]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(vs)
	if err != nil {
		return nil, fmt.Errorf("encode validator set: %w", err)
	}
	return crypto.Hash(b), nil
}

// followValidatorSets walks links, the proofs of the validator sets that
// took force after genesis (StateProof.validator_set_proofs), from the
// trusted genesis set to the set in force at height h (ARCHITECTURE.md §4,
// "Proofs across set changes"). Link i proves the ValidatorSet record at
// key valset/E_i, in force from E_i, in the state that block E_i-1 (the
// root of its epoch) attests, and block E_i-1 committed under set i-1,
// whose headers must name set i-1's hash (checked for every set after
// genesis). Effective heights strictly increase, none above h; at most
// maxSetChanges links.
//
// Why the hash check: a record proven at the root's state could still be
// replaced before E_i (a later decision for the same height); every header
// certified under a set names the hash of the set in force, which correct
// validators check against their own state, so a stale or forged record is
// refused the first time it is used to check a certificate (the next link
// or the proven block).
func followValidatorSets(genesisSet *provenSet, links []*pb.StateProof, h uint64) (*provenSet, error) {
	if len(links) > maxSetChanges {
		return nil, proofErr("the proof follows %d validator-set changes; at most %d are accepted", len(links), maxSetChanges)
	}
	cur := genesisSet
	for i, l := range links {
		bad := func(format string, a ...any) error {
			return proofErr("validator-set change %d of %d: %s", i+1, len(links), fmt.Sprintf(format, a...))
		}
		if l == nil || len(l.GetValue()) == 0 {
			return nil, bad("no validator set record")
		}
		if len(l.GetValidatorSetProofs()) != 0 {
			return nil, bad("a validator-set proof nests further proofs")
		}
		vs := &pb.ValidatorSet{}
		if err := proto.Unmarshal(l.GetValue(), vs); err != nil {
			return nil, bad("the record does not decode as a ValidatorSet: %v", err)
		}
		e := vs.GetEffectiveHeight()
		if e <= cur.from || e < 2 {
			return nil, bad("the set in force from height %d does not follow the set in force from %d", e, cur.from)
		}
		if e > h {
			return nil, bad("the set in force from height %d is not in force at the proven block %d", e, h)
		}
		hdr, err := checkTreeAndHeader(l, exec.ValidatorSetKey(e), l.GetValue(), cur.cfg.ChainID)
		if err != nil {
			return nil, bad("the set in force from %d: %v", e, err)
		}
		if hdr.GetHeight() != e-1 {
			return nil, bad("the set in force from %d is proven against block %d, not its root block %d", e, hdr.GetHeight(), e-1)
		}
		if err := cur.checkCommitted(hdr, l.GetHeader(), l.GetCert(), l.GetChain()); err != nil {
			return nil, bad("the root block of the set in force from %d: %v", e, err)
		}
		next, err := setFromRecord(cur.cfg, vs, l.GetHeader(), hdr.GetView())
		if err != nil {
			return nil, bad("the set in force from %d: %v", e, err)
		}
		cur = next
	}
	return cur, nil
}

// checkTreeAndHeader checks steps 1 and 2 of a state proof: value (nil:
// absent) at key leads to the state root, and the header names that root,
// the state height and the chain (chainID, unless empty). It returns the
// decoded header.
func checkTreeAndHeader(p *pb.StateProof, key, value []byte, chainID string) (*pb.Header, error) {
	if !bytes.Equal(p.GetKey(), key) {
		return nil, fmt.Errorf("the proof is for key %q, not %q", p.GetKey(), key)
	}
	if value != nil && !bytes.Equal(p.GetValue(), value) {
		return nil, fmt.Errorf("the proven value is not the value the node returned")
	}
	if value == nil && len(p.GetValue()) != 0 {
		return nil, fmt.Errorf("the proof carries a value for a key the node says is absent")
	}

	// 1. The tree.
	if len(p.GetStateRoot()) != len(state.Hash{}) {
		return nil, fmt.Errorf("state root is %d bytes", len(p.GetStateRoot()))
	}
	root := state.Hash(p.GetStateRoot())
	tp, err := state.UnmarshalProof(p.GetProof())
	if err != nil {
		return nil, fmt.Errorf("tree proof: %v", err)
	}
	if err := state.Verify(root, key, value, tp); err != nil {
		return nil, fmt.Errorf("tree proof does not lead to state root %x: %v", root[:], err)
	}

	// 2. The header attests the root.
	hdr := &pb.Header{}
	if err := proto.Unmarshal(p.GetHeader(), hdr); err != nil || len(p.GetHeader()) == 0 {
		return nil, fmt.Errorf("header does not decode")
	}
	if !bytes.Equal(hdr.GetStateRoot(), p.GetStateRoot()) {
		return nil, fmt.Errorf("header at height %d has state root %x, the proof %x", hdr.GetHeight(), hdr.GetStateRoot(), p.GetStateRoot())
	}
	if hdr.GetStateHeight() != p.GetStateHeight() {
		return nil, fmt.Errorf("header at height %d attests state height %d, the proof claims %d", hdr.GetHeight(), hdr.GetStateHeight(), p.GetStateHeight())
	}
	if chainID != "" && hdr.GetChainId() != chainID {
		return nil, fmt.Errorf("header is of chain %q, want %q", hdr.GetChainId(), chainID)
	}
	return hdr, nil
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
	hdr, err := checkTreeAndHeader(p, key, value, chainID)
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
		gen := &provenSet{cfg: consensus.Config{ChainID: anchor.chainID, GenesisHash: anchor.genesisHash, Validators: anchor.validators,
			FaultModel: consensus.FaultModel(anchor.faultModel), Self: -1}, from: 1}
		if set, err = followValidatorSets(gen, p.GetValidatorSetProofs(), hdr.GetHeight()); err != nil {
			return nil, err
		}
		if pv := p.GetValidators(); pv != nil && !sameKeys(pv, set.cfg.Validators) {
			if set.from == 1 {
				return nil, proofErr("the proof's validator set (in force from height %d) differs from the genesis set in %s, and the proof proves no validator-set change",
					pv.GetEffectiveHeight(), anchor.source)
			}
			return nil, proofErr("the proof's validator set (in force from height %d) differs from the set in force from %d that the proof leads to from the genesis in %s",
				pv.GetEffectiveHeight(), set.from, anchor.source)
		}
		res.ValidatorSet = "genesis " + anchor.source
		if n := len(p.GetValidatorSetProofs()); n > 0 {
			plural := "s"
			if n == 1 {
				plural = ""
			}
			res.ValidatorSet += fmt.Sprintf(", then %d validator-set change%s, each proven under the set before (in force from height %d)", n, plural, set.from)
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
		if set, err = setFromRecord(consensus.Config{ChainID: hdr.GetChainId()}, pv, root, rootView); err != nil {
			return nil, proofErr("the node's validator set: %v", err)
		}
		if pv.GetEffectiveHeight() <= 1 {
			set.hash = nil // the genesis set: its headers' hash is not checked without the genesis
		}
		res.ValidatorSet = "from the node's answer (not independently anchored)"
	}
	if err := set.checkCommitted(hdr, p.GetHeader(), p.GetCert(), p.GetChain()); err != nil {
		return nil, proofErr("header at height %d is not proven: %v", hdr.GetHeight(), err)
	}
	res.Signers = len(p.GetCert().GetChildQc().GetSigs())
	res.Validators = len(set.cfg.Validators)
	res.Quorum = consensus.Quorum(set.cfg.FaultModel, len(set.cfg.Validators))
	res.SetFrom = set.from
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
