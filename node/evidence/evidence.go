// Package evidence puts on chain the equivocations the consensus core
// finds (two votes by one validator at one view and height): as
// SubmitEvidence transactions signed by the node's validator identity,
// staggered across the honest validators so one of them usually records
// it (ARCHITECTURE.md §4 "Evidence").
package evidence

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/consensus/driver"
	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/genesis"
	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/store"
	"github.com/govnode/govnode/node/mempool"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Evidence submission tuning.
const (
	// evidenceQueue bounds the evidence waiting to be submitted; more is
	// dropped (and logged): one equivocation on chain is enough to act on.
	evidenceQueue = 64
	// evidenceStagger spaces the honest validators' submissions of one
	// equivocation, which they all see: the validator after the accused in
	// validator order submits at once, the next one evidenceStagger later,
	// and so on, each first checking whether the chain already holds it. So
	// one transaction usually records it, and a second (which the state
	// machine refuses as already recorded) only when the first was slow.
	evidenceStagger = 2 * time.Second
	// evidenceCommitWait bounds the wait for a submitted evidence tx to
	// commit before the next one is signed (they share the signer's nonce).
	evidenceCommitWait = 30 * time.Second
	// maxNonceSkips bounds how far past the committed nonce a submission
	// looks for one no pending tx of the identity holds.
	maxNonceSkips = 16
)

// Deps are what the pool needs from the node.
type Deps struct {
	ChainID string
	// Keys are this validator's consensus keys: the key file's and any
	// pending key put in place for a governed rotation. The one the set in
	// force names is this node's, and the one its validator identity is
	// keyed by signs the evidence tx (a rotation rekeys the identity,
	// exec.ValidatorIdentityID). Index and department are looked up in
	// the set in force at each submission: governance changes both.
	Keys []crypto.PrivateKey
	// Validators returns the current validator set.
	Validators func() *pb.ValidatorSet
	// State reads committed state (the evidence already recorded, the
	// identity's nonce).
	State exec.Reader
	// Submit admits a tx as SubmitTx does and returns its hash; WaitForTx
	// waits until that tx is committed.
	Submit    func(ctx context.Context, tx []byte) ([]byte, error)
	WaitForTx func(ctx context.Context, hash []byte) (store.TxLocation, *pb.TxResult, error)
	Logger    *slog.Logger
}

// Pool puts the equivocations the consensus core finds on chain as
// SubmitEvidence transactions, signed by the node's validator identity
// (genesis.ValidatorIdentityID: the department's "<dept>-validator", keyed
// by the consensus key). The driver hands evidence over without waiting;
// Run submits it, one at a time, from its own goroutine.
type Pool struct {
	d      Deps
	signer string // identity id of the submission in progress
	in     chan *pb.EquivocationEvidence
	// proven is, per accused department, the epoch in which this pool saw
	// evidence against it committed (its own or another validator's). One
	// equivocation on chain is enough to act on: a validator that
	// equivocates at every height would otherwise have the honest ones
	// make a block for each piece of evidence, for ever (the chain never
	// went idle with such a liar running once nothing cut it off).
	// Only Run's goroutine touches it; it holds at most one entry per
	// department.
	proven map[string]uint64
	// handled counts the evidence Run is done with (submitted, found on
	// chain, skipped as proven, or failed).
	handled atomic.Uint64
}

var _ driver.EvidencePool = (*Pool)(nil)

// New is the pool of a validator node.
func New(d Deps) (*Pool, error) {
	if len(d.Keys) == 0 || slices.Contains(d.Keys, nil) || d.Validators == nil || d.State == nil || d.Submit == nil || d.WaitForTx == nil || d.Logger == nil {
		return nil, errors.New("evidence: New needs keys, validators, state, submit, wait and logger")
	}
	return &Pool{d: d, in: make(chan *pb.EquivocationEvidence, evidenceQueue), proven: map[string]uint64{}}, nil
}

// self is this node's index in vs, -1 if none of its keys is there.
func (p *Pool) self(vs *pb.ValidatorSet) int {
	for i, v := range vs.GetValidators() {
		if p.key(v.GetConsensusKey()) != nil {
			return i
		}
	}
	return -1
}

// key is the node's private key for pub, nil if it holds none.
func (p *Pool) key(pub *pb.PublicKey) crypto.PrivateKey {
	for _, k := range p.d.Keys {
		if crypto.PublicKeyEqual(k.Public(), pub) {
			return k
		}
	}
	return nil
}

// AddEvidence queues ev for submission; it never blocks the driver.
func (p *Pool) AddEvidence(ev *pb.EquivocationEvidence) {
	if p == nil {
		return
	}
	select {
	case p.in <- ev:
	default:
		p.d.Logger.Warn("equivocation evidence dropped: submission queue full", "voter", ev.GetVoteA().GetVoter(),
			"view", ev.GetVoteA().GetView(), "height", ev.GetVoteA().GetHeight())
	}
}

// Handled is the number of pieces of evidence Run is done with.
func (p *Pool) Handled() uint64 { return p.handled.Load() }

// Run submits queued evidence until ctx ends.
func (p *Pool) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-p.in:
			if err := p.submit(ctx, ev); err != nil && ctx.Err() == nil {
				p.d.Logger.Warn("equivocation evidence not submitted", "err", err)
			}
			p.handled.Add(1)
		}
	}
}

// submit puts one piece of evidence on chain unless it is there already.
func (p *Pool) submit(ctx context.Context, ev *pb.EquivocationEvidence) error {
	va := ev.GetVoteA()
	vs := p.d.Validators()
	n := len(vs.GetValidators())
	// The votes' own set names the accused: an older epoch's when the
	// equivocation was in its suffix, the core having switched since.
	of := vs
	if ev.Epoch != nil && ev.GetEpoch() != exec.EpochStart(vs) {
		var err error
		if of, err = exec.ValidatorSetAt(p.d.State, ev.GetEpoch()); err != nil {
			return fmt.Errorf("validator set of epoch %d: %w", ev.GetEpoch(), err)
		}
	}
	if int(va.GetVoter()) >= len(of.GetValidators()) {
		return fmt.Errorf("evidence against validator %d of %d", va.GetVoter(), len(of.GetValidators()))
	}
	dept := of.GetValidators()[va.GetVoter()].GetId()
	epoch := exec.EpochStart(of)
	if e, ok := p.proven[dept]; ok && e == epoch {
		p.d.Logger.Debug("equivocation of a validator already proven on chain in this epoch: not submitted", "accused", dept,
			"view", va.GetView(), "height", va.GetHeight())
		return nil
	}
	self := p.self(vs)
	if self < 0 {
		return errors.New("this node's key is not in the validator set in force: it submits no evidence")
	}
	p.signer = genesis.ValidatorIdentityID(vs.GetValidators()[self].GetId())
	// The accused's place in the set in force orders the submitters (a
	// department removed since counts as the first).
	accused := 0
	for i, v := range vs.GetValidators() {
		if v.GetId() == dept {
			accused = i
		}
	}
	log := p.d.Logger.With("accused", dept, "view", va.GetView(), "height", va.GetHeight())
	log.Warn("equivocation: a validator voted for two blocks at one (view, height)",
		"block_a", fmt.Sprintf("%x", va.GetBlockHash()), "block_b", fmt.Sprintf("%x", ev.GetVoteB().GetBlockHash()))

	// The accused may be this node's own key: two processes run with one
	// validator key (a restored backup, a failover done twice) equivocate
	// as surely as a liar, and the honest answer is to record it. The
	// accused comes last in the rank, so others usually record it first.
	rank := (self - accused - 1 + n) % n
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Duration(rank) * evidenceStagger):
	}
	r := p.d.State
	if _, err := exec.Evidence(r, dept, va.GetView(), va.GetHeight()); err == nil {
		log.Info("equivocation evidence already on chain")
		p.proven[dept] = epoch
		return nil
	} else if !errors.Is(err, exec.ErrNotFound) {
		return fmt.Errorf("read evidence: %w", err)
	}
	// The validator identity also signs the node's access entries
	// (node/api, RecordAccesses): a nonce one of them holds in the
	// mempool is skipped, up to maxNonceSkips ahead.
	var hash []byte
	for skip := uint64(0); ; skip++ {
		tx, err := p.sign(r, ev, skip)
		if err != nil {
			return err
		}
		hash, err = p.d.Submit(ctx, tx)
		if err == nil {
			break
		}
		if skip < maxNonceSkips && errors.Is(err, mempool.ErrNonceTaken) {
			continue
		}
		return fmt.Errorf("submit evidence tx: %w", err)
	}
	wctx, cancel := context.WithTimeout(ctx, evidenceCommitWait)
	defer cancel()
	_, res, err := p.d.WaitForTx(wctx, hash)
	if err != nil {
		return fmt.Errorf("evidence tx %x: %w", hash, err)
	}
	log.Info("equivocation evidence committed", "tx", fmt.Sprintf("%x", hash), "code", res.GetCode().String(), "reason", res.GetReason())
	// Ours, or another validator's that committed first.
	if _, err := exec.Evidence(p.d.State, dept, va.GetView(), va.GetHeight()); err == nil {
		p.proven[dept] = epoch
	}
	return nil
}

// sign makes the SubmitEvidence transaction of the node's validator
// identity, with its next nonce. The identity must still be active and
// keyed by one of this node's consensus keys (its department may have
// keyed it otherwise).
func (p *Pool) sign(r exec.Reader, ev *pb.EquivocationEvidence, skip uint64) ([]byte, error) {
	id, err := exec.Identity(r, p.signer)
	if err != nil {
		return nil, fmt.Errorf("validator identity %s (see genesis.ValidatorIdentityID): %w", p.signer, err)
	}
	key := p.key(id.GetPublicKey())
	if id.GetStatus() != pb.IdentityStatus_IDENTITY_STATUS_ACTIVE || key == nil {
		return nil, fmt.Errorf("validator identity %s is not active with one of this node's consensus keys", p.signer)
	}
	last, err := exec.Nonce(r, p.signer)
	if err != nil {
		return nil, fmt.Errorf("nonce of %s: %w", p.signer, err)
	}
	body, err := proto.MarshalOptions{Deterministic: true}.Marshal(&pb.TxBody{
		ChainId: p.d.ChainID, Signer: p.signer, Nonce: last + 1 + skip, Memo: "equivocation evidence",
		Action: &pb.TxBody_SubmitEvidence{SubmitEvidence: &pb.SubmitEvidence{Evidence: ev}},
	})
	if err != nil {
		return nil, fmt.Errorf("encode evidence tx: %w", err)
	}
	sig, err := key.Sign(crypto.TxSignBytes(p.d.ChainID, body))
	if err != nil {
		return nil, fmt.Errorf("sign evidence tx: %w", err)
	}
	return proto.Marshal(&pb.SignedTx{Body: body, Signature: sig})
}
