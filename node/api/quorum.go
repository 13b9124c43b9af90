package api

import (
	"errors"
	"fmt"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/ledger/exec"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// LiveWindow is how many of the latest committed blocks' commit
// certificates say which validators are live (QuorumCheck).
const LiveWindow = 20

// QuorumCheck is the node's pre-check at SubmitTx of a proposal that
// changes the validator set (add or remove a department), before the
// mempool (ARCHITECTURE.md §5, governance; the rules are ledger/exec's
// quorum.go). It applies the quorum-safety rules with the set in force
// at the next block, counting the changes decided and not yet in force,
// and the rule only a node can apply: the validators of the resulting set
// that are live now must meet its quorum. Live are the validators whose
// votes are in the commit certificates of the last Window committed
// blocks; while fewer blocks exist, every validator in force. A
// validator not yet in force is never live. A refusal is
// FailedPrecondition naming the rule and the numbers, and changes nothing.
type QuorumCheck struct {
	// Ledger gives the committed height and the commit certificates.
	Ledger Ledger
	// State is the committed state as the state machine reads it.
	State exec.Reader
	// Admit is the state machine's check of a tx, as the mempool runs it.
	// A proposal is checked only once Admit accepts it, so that a tx the
	// mempool refuses gets the mempool's answer, and who is live is told
	// only to an admin whose signature verified.
	Admit func(*exec.Tx) error
	// Window is LiveWindow unless set.
	Window int
	// Suite is the chain's crypto suite.
	Suite crypto.Suite
}

// Check is the pre-check of raw, a SignedTx (Deps.PreSubmit).
func (q QuorumCheck) Check(raw []byte) error {
	if !mayCarryProposal(raw) {
		return nil
	}
	tx := exec.NewTx(q.Suite, raw)
	if tx.Err != nil || tx.Body.GetSubmitProposal() == nil {
		return nil
	}
	head, ok := q.Ledger.Height()
	if !ok {
		return nil
	}
	c, ok, err := exec.ProposedSetChange(q.State, head+1, tx.Body.GetSubmitProposal())
	if err != nil {
		return internal(fmt.Errorf("quorum pre-check: %w", err))
	}
	if !ok || q.Admit(tx) != nil {
		return nil // no validator change, or the mempool's refusal
	}
	if err := exec.CheckSetChange(c); err != nil {
		return connect.NewError(connect.CodeFailedPrecondition, err)
	}
	live, seen, err := q.live(head, c.InForce)
	if err != nil {
		return internal(fmt.Errorf("quorum pre-check: %w", err))
	}
	if err := exec.CheckLiveQuorum(c, live, seen); err != nil {
		return connect.NewError(connect.CodeFailedPrecondition, err)
	}
	return nil
}

// live returns the ids of the validators whose votes certify the last
// Window blocks up to head, and where they were seen.
func (q QuorumCheck) live(head uint64, inForce *pb.ValidatorSet) (map[string]bool, string, error) {
	window := uint64(q.Window)
	if window == 0 {
		window = LiveWindow
	}
	live := map[string]bool{}
	if head < window {
		for _, v := range inForce.GetValidators() {
			live[v.GetId()] = true
		}
		return live, fmt.Sprintf("%d blocks committed, fewer than %d: every validator in force counts as live", head, window), nil
	}
	from := head - window + 1
	sets := map[uint64]*pb.ValidatorSet{}
	for h := from; h <= head; h++ {
		raw, err := q.Ledger.CommitCert(h)
		if err != nil {
			return nil, "", err
		}
		cert := &pb.CommitCert{}
		if err := proto.Unmarshal(raw, cert); err != nil {
			return nil, "", fmt.Errorf("decode commit certificate %d: %w", h, err)
		}
		// The QC certifies the child block: its signers are indexes in
		// the set in force at the child's height.
		qc := cert.GetChildQc()
		vs, ok := sets[qc.GetHeight()]
		if !ok {
			if vs, err = exec.ValidatorSetAt(q.State, qc.GetHeight()); err != nil {
				return nil, "", err
			}
			sets[qc.GetHeight()] = vs
		}
		for _, s := range qc.GetSigs() {
			if i := int(s.GetValidator()); i < len(vs.GetValidators()) {
				live[vs.GetValidators()[i].GetId()] = true
			}
		}
	}
	return live, fmt.Sprintf("live: votes in the commit certificates of blocks %d to %d", from, head), nil
}

// The field numbers mayCarryProposal looks for.
var (
	signedTxBody   = (&pb.SignedTx{}).ProtoReflect().Descriptor().Fields().ByName("body").Number()
	txBodyProposal = (&pb.TxBody{}).ProtoReflect().Descriptor().Fields().ByName("submit_proposal").Number()
)

// mayCarryProposal reports whether raw, a SignedTx, has a body with a
// submit_proposal field, by scanning the wire format: any other tx is
// decoded once, by the mempool (ARCHITECTURE.md §3). A tx that does not
// parse carries none (the mempool refuses it).
func mayCarryProposal(raw []byte) bool {
	bodies, err := fieldValues(raw, signedTxBody)
	if err != nil {
		return false
	}
	for _, b := range bodies {
		if ps, err := fieldValues(b, txBodyProposal); err == nil && len(ps) > 0 {
			return true
		}
	}
	return false
}

// fieldValues returns the values of the length-delimited field num at the
// top level of the message msg.
func fieldValues(msg []byte, num protowire.Number) ([][]byte, error) {
	var out [][]byte
	for len(msg) > 0 {
		n, typ, l := protowire.ConsumeTag(msg)
		if l < 0 {
			return nil, errBadWire
		}
		msg = msg[l:]
		if n == num && typ == protowire.BytesType {
			v, l := protowire.ConsumeBytes(msg)
			if l < 0 {
				return nil, errBadWire
			}
			out = append(out, v)
			msg = msg[l:]
			continue
		}
		if l = protowire.ConsumeFieldValue(n, typ, msg); l < 0 {
			return nil, errBadWire
		}
		msg = msg[l:]
	}
	return out, nil
}

var errBadWire = errors.New("not a protobuf message")
