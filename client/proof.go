package client

// Proof checking (docs/ARCHITECTURE.md §3 step 6, §5 "State commitment").
// A StateProof is checked in three steps, none of which trusts the node
// that answered:
//
//  1. tree: the value (or its absence) at the expected key hashes up to
//     state_root (lightclient.CheckStateProof);
//  2. header: the serialized header names that state_root and state_height
//     and the chain id;
//  3. commit: the header is committed, by the commit certificate and the
//     chain of headers up to the certified block, against the validator
//     set in force at its height, reached from the set of the genesis
//     document the Anchor pins: each set that took force after genesis is
//     proven under the set before it (lightclient.FollowValidatorSets;
//     §4, "Proofs across set changes").
//
// The steps are the light client's (ledger/lightclient), the one verifier
// the SDK, the CLI, `govnode verify` and the portal share.

import (
	"bytes"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/consensus"
	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/genesis"
	"github.com/govnode/govnode/ledger/lightclient"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// ErrProof wraps every reason a proof is refused.
var ErrProof = errors.New("proof NOT verified")

// errStale marks a proof of another value than the answer's: the proof
// may be of an older state than the answer (verifyLatest asks again). Its
// text is empty: it only marks the error.
var errStale = errors.New("")

func proofErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrProof, fmt.Sprintf(format, a...))
}

// Anchor is what proofs are checked against: a chain's genesis document,
// whose validator set certifies the first blocks, pinned by its hash.
type Anchor struct {
	ChainID     string
	GenesisHash []byte
	// Suite is the chain's crypto suite, the genesis's.
	Suite crypto.Suite
	// Source names where the genesis came from, for messages.
	Source string

	validators []*pb.PublicKey
	faultModel string
}

// NewAnchor trusts genesis document doc; source names it in messages.
func NewAnchor(doc *pb.GenesisDoc, source string) (*Anchor, error) {
	h, err := genesis.Hash(doc)
	if err != nil {
		return nil, err
	}
	suite, err := crypto.SuiteByName(doc.GetCryptoSuite())
	if err != nil {
		return nil, fmt.Errorf("genesis %s: %w", source, err)
	}
	var keys []*pb.PublicKey
	for _, v := range doc.GetValidators() {
		keys = append(keys, v.GetConsensusKey())
	}
	a, err := AnchorFromSet(doc.GetChainId(), h, keys, doc.GetFaultModel(), source)
	if err != nil {
		return nil, err
	}
	if a.Suite != suite {
		return nil, fmt.Errorf("genesis %s names crypto suite %s, its validators' keys are %s keys", source, suite, crypto.SchemeName(keys[0].GetScheme()))
	}
	return a, nil
}

// AnchorFromSet trusts a genesis validator set known by other means than
// its document: the chain id, the genesis hash (which the first headers'
// certificates name), the validators' consensus keys in genesis order and
// the fault model ("crash" or "byzantine"). The chain's crypto suite is
// the one whose keys the validators hold (crypto.SuiteOfScheme).
func AnchorFromSet(chainID string, genesisHash []byte, validators []*pb.PublicKey, faultModel, source string) (*Anchor, error) {
	if len(validators) == 0 {
		return nil, fmt.Errorf("genesis %s has no validators", source)
	}
	if m := consensus.FaultModel(faultModel); m != consensus.Crash && m != consensus.Byzantine {
		return nil, fmt.Errorf("genesis %s: unknown fault model %q", source, faultModel)
	}
	suite, err := crypto.SuiteOfScheme(validators[0].GetScheme())
	if err != nil {
		return nil, fmt.Errorf("genesis %s: validator 0: %w", source, err)
	}
	for i, v := range validators {
		if err := suite.CheckKey(fmt.Sprintf("genesis %s: validator %d", source, i), v); err != nil {
			return nil, err
		}
	}
	return &Anchor{ChainID: chainID, GenesisHash: genesisHash, Suite: suite, Source: source, validators: validators, faultModel: faultModel}, nil
}

// LoadAnchor trusts the genesis file at path (as `govnode init` writes it).
func LoadAnchor(path string) (*Anchor, error) {
	doc, err := genesis.Load(path)
	if err != nil {
		return nil, err
	}
	return NewAnchor(doc, path)
}

// AnchorFromGenesis trusts the genesis document doc (the genesis file's
// JSON, or its binary encoding) only if it hashes to genesisHash: the one
// value an application must get from a source it trusts.
func AnchorFromGenesis(doc, genesisHash []byte) (*Anchor, error) {
	if len(doc) > lightclient.MaxGenesisBytes {
		return nil, fmt.Errorf("genesis of %d bytes, at most %d", len(doc), lightclient.MaxGenesisBytes)
	}
	g, err := genesis.Unmarshal(doc)
	if err != nil {
		g = &pb.GenesisDoc{}
		if perr := proto.Unmarshal(doc, g); perr != nil {
			return nil, fmt.Errorf("genesis: neither JSON (%v) nor binary (%v)", err, perr)
		}
	}
	a, err := NewAnchor(g, fmt.Sprintf("of hash %x", genesisHash))
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(a.GenesisHash, genesisHash) {
		return nil, fmt.Errorf("%w: the genesis document hashes to %x, not the trusted %x", ErrProof, a.GenesisHash, genesisHash)
	}
	return a, nil
}

// Proof is what a verified proof establishes.
type Proof struct {
	BlockHeight uint64
	BlockHash   []byte
	StateHeight uint64
	StateRoot   []byte
	Key         []byte
	Present     bool
	Signers     int
	Validators  int
	Quorum      int
	// ValidatorSet says which set certified the header, and how it was
	// reached ("genesis <source>[, then N validator-set changes…]").
	ValidatorSet string
	// Anchored is false only for a proof checked without an Anchor.
	Anchored bool
	// SetChanges is how many validator-set changes the proof followed from
	// genesis; SetFrom the first height of the set that certifies the block
	// (1 for the genesis set).
	SetChanges int
	SetFrom    uint64
}

// VerifyStateProof checks that p proves value at key (value nil: key
// absent) in a committed block of chainID. With an anchor, the validator
// set that certifies p's header is reached from the anchor's genesis set
// through p's validator-set proofs, and chainID must be the anchor's.
// Without one (anchor nil), the validator set comes from p itself: that
// proves the answer is self-consistent, not that it is the chain's.
//
// suite is the chain's crypto suite (an anchor's must be the same).
func VerifyStateProof(p *pb.StateProof, key, value []byte, chainID string, suite crypto.Suite, anchor *Anchor) (*Proof, error) {
	if p == nil {
		return nil, proofErr("the node sent no proof")
	}
	if anchor != nil && anchor.Suite != suite {
		return nil, proofErr("a %s proof checked against the genesis of a %s chain (%s)", suite, anchor.Suite, anchor.Source)
	}
	hdr, err := lightclient.CheckStateProof(p, key, value, chainID, suite)
	if err != nil {
		return nil, proofErr("%v", err)
	}
	res := &Proof{
		BlockHeight: hdr.GetHeight(), BlockHash: suite.Hash(p.GetHeader()),
		StateHeight: p.GetStateHeight(), StateRoot: p.GetStateRoot(), Key: key, Present: value != nil,
	}
	var set *lightclient.Set
	if anchor != nil {
		if anchor.ChainID != hdr.GetChainId() {
			return nil, proofErr("header is of chain %q, the genesis of chain %q", hdr.GetChainId(), anchor.ChainID)
		}
		gen := &lightclient.Set{Config: consensus.Config{ChainID: anchor.ChainID, Suite: suite, GenesisHash: anchor.GenesisHash, Validators: anchor.validators,
			FaultModel: consensus.FaultModel(anchor.faultModel), Self: -1}, From: 1}
		if set, err = lightclient.FollowValidatorSets(gen, p.GetValidatorSetProofs(), hdr.GetHeight()); err != nil {
			return nil, proofErr("%v", err)
		}
		if pv := p.GetValidators(); pv != nil && !sameKeys(pv, set.Config.Validators) {
			if set.From == 1 {
				return nil, proofErr("the proof's validator set (in force from height %d) differs from the genesis set in %s, and the proof proves no validator-set change",
					pv.GetEffectiveHeight(), anchor.Source)
			}
			return nil, proofErr("the proof's validator set (in force from height %d) differs from the set in force from %d that the proof leads to from the genesis in %s",
				pv.GetEffectiveHeight(), set.From, anchor.Source)
		}
		res.Anchored = true
		res.ValidatorSet = "genesis " + anchor.Source
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
		if set, err = lightclient.SetFromRecord(consensus.Config{ChainID: hdr.GetChainId(), Suite: suite}, pv, root, rootView); err != nil {
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

// ProvenObject checks that the object the node returned is the proven
// value: the value must decode into the same message.
func ProvenObject(value []byte, got proto.Message) error {
	want := got.ProtoReflect().New().Interface()
	if err := proto.Unmarshal(value, want); err != nil {
		return proofErr("the proven value does not decode as %s: %v", got.ProtoReflect().Descriptor().Name(), err)
	}
	if !proto.Equal(want, got) {
		return fmt.Errorf("%w: the %s the node returned differs from the proven value%w", ErrProof, got.ProtoReflect().Descriptor().Name(), errStale)
	}
	return nil
}

// VerifyObject checks that p proves obj (its encoding) at key: the
// object the node returned is exactly the proven value, and the proof
// holds (VerifyStateProof).
func VerifyObject(p *pb.StateProof, key []byte, obj proto.Message, chainID string, suite crypto.Suite, anchor *Anchor) (*Proof, error) {
	if p == nil {
		return nil, proofErr("the node sent no proof")
	}
	if err := ProvenObject(p.GetValue(), obj); err != nil {
		return nil, err
	}
	value := p.GetValue()
	if value == nil {
		value = []byte{}
	}
	return VerifyStateProof(p, key, value, chainID, suite, anchor)
}
