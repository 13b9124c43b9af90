package lightclient

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/consensus"
	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/ledger/state/proof"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// MaxValidatorSets bounds the validator-set changes one proof or bundle
// follows from genesis (the node sends at most api.MaxValidatorSetProofs,
// the same number).
const MaxValidatorSets = 128

// Set is a validator set a proof check trusts: the genesis set, or one
// proven under the set before it (FollowValidatorSets; ARCHITECTURE.md
// §4, "Proofs across set changes").
type Set struct {
	// Config checks certificates of the set's epoch: chain id, genesis
	// hash, epoch and root, validators, fault model.
	Config consensus.Config
	// From is the first height the set certifies (1 for the genesis set).
	From uint64
	// Hash is the hash of its ValidatorSet record, which every header it
	// certifies names; nil when not known (the genesis set, taken from the
	// genesis document, not from a record).
	Hash []byte
}

// GenesisSet is the set a genesis document puts in force at height 1;
// genesisHash is the document's hash (genesis.Hash: the suite hash of its
// deterministic encoding). Its Config carries the chain's crypto suite,
// which every later check of the chain uses.
func GenesisSet(doc *pb.GenesisDoc, genesisHash []byte) (*Set, error) {
	suite, err := crypto.SuiteByName(doc.GetCryptoSuite())
	if err != nil {
		return nil, fmt.Errorf("genesis: %w", err)
	}
	m := consensus.FaultModel(doc.GetFaultModel())
	if m != consensus.Crash && m != consensus.Byzantine {
		return nil, fmt.Errorf("genesis: unknown fault model %q", doc.GetFaultModel())
	}
	if len(doc.GetValidators()) == 0 {
		return nil, errors.New("genesis: no validators")
	}
	var keys []*pb.PublicKey
	for i, v := range doc.GetValidators() {
		if err := suite.CheckKey("consensus key", v.GetConsensusKey()); err != nil {
			return nil, fmt.Errorf("genesis: validator %d (%q): %v", i, v.GetId(), err)
		}
		keys = append(keys, v.GetConsensusKey())
	}
	return &Set{Config: consensus.Config{ChainID: doc.GetChainId(), Suite: suite, GenesisHash: genesisHash, Validators: keys, FaultModel: m, Self: -1}, From: 1}, nil
}

// CheckCommitted checks that hdr (serialized: raw), at a height the set
// certifies, is committed under it by cert and chain. A root block
// committed by a block of its set's suffix, which no ledger holds, comes
// with a certificate that carries the headers between (pb.CommitCert.chain)
// and no separate chain: consensus.VerifyCommit takes the certificate's
// and refuses a proof that gives both (ARCHITECTURE.md §4
// "Reconfiguration").
func (s *Set) CheckCommitted(hdr *pb.Header, raw []byte, cert *pb.CommitCert, chain [][]byte) error {
	if hdr.GetHeight() < s.From {
		return fmt.Errorf("block %d is below height %d, where the validator set it is checked against starts", hdr.GetHeight(), s.From)
	}
	if s.Hash != nil && !bytes.Equal(hdr.GetValidatorSetHash(), s.Hash) {
		return fmt.Errorf("block %d names validator set %x, but the set in force from %d is %x: "+
			"a validator-set change is missing from the proof, or the set is not the one in force", hdr.GetHeight(), hdr.GetValidatorSetHash(), s.From, s.Hash)
	}
	if err := consensus.VerifyCommit(s.Config, &pb.Block{Header: raw}, cert, chain); err != nil {
		return fmt.Errorf("block %d is not proven committed by the validator set in force from %d (%d validators, %s): %v",
			hdr.GetHeight(), s.From, len(s.Config.Validators), s.Config.FaultModel, err)
	}
	return nil
}

// SetFromRecord is the Set of a ValidatorSet record in force from its
// effective height, whose epoch starts above root (the serialized header of
// block effective_height-1); base gives the chain id, crypto suite and
// genesis hash.
func SetFromRecord(base consensus.Config, vs *pb.ValidatorSet, root []byte, rootView uint64) (*Set, error) {
	e := vs.GetEffectiveHeight()
	ep := consensus.Epoch{FaultModel: consensus.FaultModel(vs.GetFaultModel())}
	if ep.FaultModel != consensus.Crash && ep.FaultModel != consensus.Byzantine {
		return nil, fmt.Errorf("unknown fault model %s", quote(vs.GetFaultModel()))
	}
	if len(vs.GetValidators()) == 0 {
		return nil, errors.New("no validators")
	}
	for i, d := range vs.GetValidators() {
		if err := base.Suite.CheckKey("consensus key", d.GetConsensusKey()); err != nil {
			return nil, fmt.Errorf("validator %d (%q): %v", i, d.GetId(), err)
		}
		ep.Validators = append(ep.Validators, d.GetConsensusKey())
	}
	if e > 1 {
		ep.Start = e
		if root != nil {
			ep.Root = &pb.QuorumCert{View: rootView, Height: e - 1, BlockHash: base.Suite.Hash(root)}
		}
	}
	hash, err := ValidatorSetHash(base.Suite, vs)
	if err != nil {
		return nil, err
	}
	return &Set{Config: base.WithEpoch(ep, -1), From: max(e, 1), Hash: hash}, nil
}

// ValidatorSetHash is the hash headers name: the suite hash of the
// record's deterministic encoding (as ledger/blockexec computes it).
func ValidatorSetHash(suite crypto.Suite, vs *pb.ValidatorSet) ([]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(vs)
	if err != nil {
		return nil, fmt.Errorf("encode validator set: %w", err)
	}
	return suite.Hash(b), nil
}

// nextSet checks one link of the walk from the genesis set: vs, decoded
// from a record proven in the state that root (block E-1, decoded: hdr)
// attests, follows cur, and root is committed under cur. The tree proof is
// the caller's. It returns the set in force from E.
func nextSet(cur *Set, vs *pb.ValidatorSet, hdr *pb.Header, root []byte, cert *pb.CommitCert, chain [][]byte, h uint64) (*Set, error) {
	e := vs.GetEffectiveHeight()
	if e <= cur.From || e < 2 {
		return nil, fmt.Errorf("the set in force from height %d does not follow the set in force from %d", e, cur.From)
	}
	if e > h {
		return nil, fmt.Errorf("the set in force from height %d is not in force at the proven block %d", e, h)
	}
	if hdr.GetHeight() != e-1 {
		return nil, fmt.Errorf("the set in force from %d is proven against block %d, not its root block %d", e, hdr.GetHeight(), e-1)
	}
	if err := cur.CheckCommitted(hdr, root, cert, chain); err != nil {
		return nil, fmt.Errorf("the root block of the set in force from %d: %v", e, err)
	}
	next, err := SetFromRecord(cur.Config, vs, root, hdr.GetView())
	if err != nil {
		return nil, fmt.Errorf("the set in force from %d: %v", e, err)
	}
	return next, nil
}

// FollowValidatorSets walks links, the proofs of the validator sets that
// took force after genesis (StateProof.validator_set_proofs), from the
// trusted genesis set to the set in force at height h (ARCHITECTURE.md §4,
// "Proofs across set changes"). Link i proves the ValidatorSet record at
// key valset/E_i, in force from E_i, in the state that block E_i-1 (the
// root of its epoch) attests, and block E_i-1 committed under set i-1,
// whose headers must name set i-1's hash (checked for every set after
// genesis). Effective heights strictly increase, none above h; at most
// MaxValidatorSets links.
//
// Why the hash check: a record proven at the root's state could still be
// replaced before E_i (a later decision for the same height); every header
// certified under a set names the hash of the set in force, which correct
// validators check against their own state, so a stale or forged record is
// refused the first time it is used to check a certificate (the next link
// or the proven block).
func FollowValidatorSets(genesisSet *Set, links []*pb.StateProof, h uint64) (*Set, error) {
	if len(links) > MaxValidatorSets {
		return nil, fmt.Errorf("the proof follows %d validator-set changes; at most %d are accepted", len(links), MaxValidatorSets)
	}
	cur := genesisSet
	for i, l := range links {
		bad := func(format string, a ...any) error {
			return fmt.Errorf("validator-set change %d of %d: %s", i+1, len(links), fmt.Sprintf(format, a...))
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
		if e <= cur.From || e < 2 {
			return nil, bad("the set in force from height %d does not follow the set in force from %d", e, cur.From)
		}
		if e > h {
			return nil, bad("the set in force from height %d is not in force at the proven block %d", e, h)
		}
		hdr, err := CheckStateProof(l, ValidatorSetKey(e), l.GetValue(), cur.Config.ChainID, cur.Config.Suite)
		if err != nil {
			return nil, bad("the set in force from %d: %v", e, err)
		}
		next, err := nextSet(cur, vs, hdr, l.GetHeader(), l.GetCert(), l.GetChain(), h)
		if err != nil {
			return nil, bad("%v", err)
		}
		cur = next
	}
	return cur, nil
}

// CheckTree checks that value (nil: absent) at key hashes up to root
// through the serialized tree proof p (ledger/state/proof), in a tree
// hashed with the suite's hash.
func CheckTree(suite crypto.Suite, root, key, value, p []byte) error {
	if len(root) != len(proof.Hash{}) {
		return fmt.Errorf("state root is %d bytes", len(root))
	}
	tp, err := proof.UnmarshalProof(p)
	if err != nil {
		return fmt.Errorf("tree proof: %v", err)
	}
	if err := proof.Hasher(suite).Verify(proof.Hash(root), key, value, tp); err != nil {
		return fmt.Errorf("tree proof does not lead to state root %x: %v", root, err)
	}
	return nil
}

// CheckStateProof checks the first two steps of a state proof: value
// (nil: absent) at key leads to the state root, and the header names that
// root, the state height and the chain (chainID, unless empty) of the
// crypto suite suite, whose hash the tree is of. It returns
// the decoded header; that the header is committed is the caller's to
// check (Set.CheckCommitted).
func CheckStateProof(p *pb.StateProof, key, value []byte, chainID string, suite crypto.Suite) (*pb.Header, error) {
	if !bytes.Equal(p.GetKey(), key) {
		return nil, fmt.Errorf("the proof is for key %s, not %q", quote(p.GetKey()), key)
	}
	if value != nil && !bytes.Equal(p.GetValue(), value) {
		return nil, fmt.Errorf("the proven value is not the value the node returned")
	}
	if value == nil && len(p.GetValue()) != 0 {
		return nil, fmt.Errorf("the proof carries a value for a key the node says is absent")
	}

	// The header is decoded once; the suite is checked first: a proof of
	// another suite's chain fails every hash below, and only this says why.
	hdr := &pb.Header{}
	decoded := len(p.GetHeader()) != 0 && proto.Unmarshal(p.GetHeader(), hdr) == nil
	if decoded && hdr.GetCryptoSuite() != suite.HeaderName() {
		return nil, fmt.Errorf("header names crypto suite %s, the chain's is %s", quote(cmp.Or(hdr.GetCryptoSuite(), crypto.SuiteNameEd25519SHA256)), suite)
	}

	// 1. The tree.
	if err := CheckTree(suite, p.GetStateRoot(), key, value, p.GetProof()); err != nil {
		return nil, err
	}

	// 2. The header attests the root.
	if !decoded {
		return nil, fmt.Errorf("header does not decode")
	}
	if !bytes.Equal(hdr.GetStateRoot(), p.GetStateRoot()) {
		return nil, fmt.Errorf("header at height %d has state root %x, the proof %x", hdr.GetHeight(), hdr.GetStateRoot(), p.GetStateRoot())
	}
	if hdr.GetStateHeight() != p.GetStateHeight() {
		return nil, fmt.Errorf("header at height %d attests state height %d, the proof claims %d", hdr.GetHeight(), hdr.GetStateHeight(), p.GetStateHeight())
	}
	if chainID != "" && hdr.GetChainId() != chainID {
		return nil, fmt.Errorf("header is of chain %s, want %q", quote(hdr.GetChainId()), chainID)
	}
	return hdr, nil
}
