package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/consensus/driver"
	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/genesis"
	"github.com/govnode/govnode/ledger/blockexec"
	"github.com/govnode/govnode/ledger/exec"
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
)

// evidencePool puts the equivocations the consensus core finds on chain as
// SubmitEvidence transactions, signed by the node's validator identity
// (genesis.ValidatorIdentityID: the department's "<dept>-validator", keyed
// by the consensus key). The driver hands evidence over without waiting;
// run submits it, one at a time, from its own goroutine.
type evidencePool struct {
	n       *Node
	chainID string
	signer  string // identity id
	in      chan *pb.EquivocationEvidence
}

var _ driver.EvidencePool = (*evidencePool)(nil)

// newEvidencePool is the pool of a validator node (n.signer and n.self set).
func newEvidencePool(n *Node) *evidencePool {
	vs, _ := n.app.Validators()
	dept := vs.GetValidators()[n.self].GetId()
	return &evidencePool{
		n: n, chainID: n.genesis.GetChainId(), signer: genesis.ValidatorIdentityID(dept),
		in: make(chan *pb.EquivocationEvidence, evidenceQueue),
	}
}

// AddEvidence queues ev for submission; it never blocks the driver.
func (p *evidencePool) AddEvidence(ev *pb.EquivocationEvidence) {
	if p == nil {
		return
	}
	select {
	case p.in <- ev:
	default:
		p.n.log.Warn("equivocation evidence dropped: submission queue full", "voter", ev.GetVoteA().GetVoter(),
			"view", ev.GetVoteA().GetView(), "height", ev.GetVoteA().GetHeight())
	}
}

// run submits queued evidence until ctx ends.
func (p *evidencePool) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-p.in:
			if err := p.submit(ctx, ev); err != nil && ctx.Err() == nil {
				p.n.log.Warn("equivocation evidence not submitted", "err", err)
			}
		}
	}
}

// submit puts one piece of evidence on chain unless it is there already.
func (p *evidencePool) submit(ctx context.Context, ev *pb.EquivocationEvidence) error {
	va := ev.GetVoteA()
	vs, _ := p.n.app.Validators()
	n := len(vs.GetValidators())
	accused := int(va.GetVoter())
	if accused >= n {
		return fmt.Errorf("evidence against validator %d of %d", accused, n)
	}
	dept := vs.GetValidators()[accused].GetId()
	log := p.n.log.With("accused", dept, "view", va.GetView(), "height", va.GetHeight())
	log.Warn("equivocation: a validator voted for two blocks at one (view, height)",
		"block_a", fmt.Sprintf("%x", va.GetBlockHash()), "block_b", fmt.Sprintf("%x", ev.GetVoteB().GetBlockHash()))

	// The accused may be this node's own key: two processes run with one
	// validator key (a restored backup, a failover done twice) equivocate
	// as surely as a liar, and the honest answer is to record it. The
	// accused comes last in the rank, so others usually record it first.
	rank := (p.n.self - accused - 1 + n) % n
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Duration(rank) * evidenceStagger):
	}
	r := blockexec.StateReader(p.n.store)
	if _, err := exec.Evidence(r, dept, va.GetView(), va.GetHeight()); err == nil {
		log.Info("equivocation evidence already on chain")
		return nil
	} else if !errors.Is(err, exec.ErrNotFound) {
		return fmt.Errorf("read evidence: %w", err)
	}
	tx, err := p.sign(r, ev)
	if err != nil {
		return err
	}
	hash, err := p.n.submit(ctx, tx)
	if err != nil {
		return fmt.Errorf("submit evidence tx: %w", err)
	}
	wctx, cancel := context.WithTimeout(ctx, evidenceCommitWait)
	defer cancel()
	_, res, err := p.n.waitForTx(wctx, hash)
	if err != nil {
		return fmt.Errorf("evidence tx %x: %w", hash, err)
	}
	log.Info("equivocation evidence committed", "tx", fmt.Sprintf("%x", hash), "code", res.GetCode().String(), "reason", res.GetReason())
	return nil
}

// sign makes the SubmitEvidence transaction of the node's validator
// identity, with its next nonce. The identity must still be active and
// keyed by this node's consensus key (its department may have rotated it).
func (p *evidencePool) sign(r exec.Reader, ev *pb.EquivocationEvidence) ([]byte, error) {
	id, err := exec.Identity(r, p.signer)
	if err != nil {
		return nil, fmt.Errorf("validator identity %s (see genesis.ValidatorIdentityID): %w", p.signer, err)
	}
	if id.GetStatus() != pb.IdentityStatus_IDENTITY_STATUS_ACTIVE || !crypto.PublicKeyEqual(id.GetPublicKey(), p.n.signer.Public()) {
		return nil, fmt.Errorf("validator identity %s is not active with this node's consensus key", p.signer)
	}
	last, err := exec.Nonce(r, p.signer)
	if err != nil {
		return nil, fmt.Errorf("nonce of %s: %w", p.signer, err)
	}
	body, err := proto.MarshalOptions{Deterministic: true}.Marshal(&pb.TxBody{
		ChainId: p.chainID, Signer: p.signer, Nonce: last + 1, Memo: "equivocation evidence",
		Action: &pb.TxBody_SubmitEvidence{SubmitEvidence: &pb.SubmitEvidence{Evidence: ev}},
	})
	if err != nil {
		return nil, fmt.Errorf("encode evidence tx: %w", err)
	}
	sig, err := p.n.signer.Sign(crypto.TxSignBytes(p.chainID, body))
	if err != nil {
		return nil, fmt.Errorf("sign evidence tx: %w", err)
	}
	return proto.Marshal(&pb.SignedTx{Body: body, Signature: sig})
}
