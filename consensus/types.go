package consensus

import (
	pb "github.com/govnode/govnode/proto/govnode/v1"
	"google.golang.org/protobuf/proto"
)

// SafetyState is what a validator must never forget (ARCHITECTURE.md §4 "Persist
// before you speak"). The driver saves it with a synced write before any
// message of the same Ready leaves the node, and gives it back to NewCore on
// restart.
type SafetyState struct {
	// View is the replica's current view.
	View uint64
	// LastVotedView and LastVotedHeight are the highest (view, height) the
	// replica voted for. A timeout for view v records (v, MaxUint64): after
	// timing out nothing in v is above it, so the replica stops voting in v,
	// and the record survives a restart.
	LastVotedView   uint64
	LastVotedHeight uint64
	// HighQC is the highest QC the replica knows; nil means the genesis QC.
	HighQC *pb.QuorumCert
	// Blocks are the blocks from the application's durable head (the last
	// one Core.Applied reported) up to the high QC's block and the last
	// block voted for, oldest first: committed blocks stay until the
	// ledger holds them. Every certified block is then held by the q
	// validators that voted for it even if they all restart, and a crash
	// between this state's write and the ledger's loses no block the high
	// QC builds on, so the chain can always extend its high QC (liveness;
	// not part of the vote rule). Blocks are never modified.
	Blocks []*pb.Block
}

// Clone returns a copy that shares no mutable state with s.
func (s SafetyState) Clone() SafetyState {
	if s.HighQC != nil {
		s.HighQC = proto.Clone(s.HighQC).(*pb.QuorumCert)
	}
	s.Blocks = append([]*pb.Block(nil), s.Blocks...)
	return s
}

// RestartState is what NewCore starts from: the persisted safety state and
// the last block the ledger committed (nil Head for a fresh chain at genesis).
type RestartState struct {
	Safety SafetyState
	// Head is the ledger's last committed block; the core never emits a
	// commit at or below its height.
	Head *pb.Block
}

// Broadcast is the To of an Envelope sent to every other validator.
const Broadcast = -1

// Envelope is an outgoing message. To is a validator index or Broadcast.
type Envelope struct {
	To  int
	Msg *pb.ConsensusMessage
}

// FetchRequest asks for the block with Hash; From is the validator most
// likely to hold it. The block comes back on the inbox as a Proposal.
type FetchRequest struct {
	Hash []byte
	From int
}

// CommittedBlock is a block the core committed, with the certificate that
// proves it (ARCHITECTURE.md §4 "Commit").
type CommittedBlock struct {
	Height uint64
	Hash   []byte
	Block  *pb.Block
	Header *pb.Header
	Cert   *pb.CommitCert
}

// ValidationRequest asks the application to check a proposal before the
// core votes for it (ABCI ProcessProposal). StateHeight is the highest
// height committed by the block's own ancestry: the header must attest the
// state after exactly that height. Every block up to StateHeight has been
// handed out as committed in this or an earlier Ready.
type ValidationRequest struct {
	Hash        []byte
	Block       *pb.Block
	Header      *pb.Header
	StateHeight uint64
	// ParentHeader is the parent's header (nil when the parent is the
	// genesis), so the application can check what must grow along the
	// chain, such as block time.
	ParentHeader *pb.Header
}

// ProposeSlot tells the driver the core is leader and ready to propose at
// (View, Height) on Parent. The driver builds a Payload after executing
// every committed block handed out so far and calls Core.Propose.
type ProposeSlot struct {
	View   uint64
	Height uint64
	Parent []byte
	// StateHeight is the height whose state the new header must attest (the
	// highest block committed by the new block's ancestry).
	StateHeight uint64
	// Uncommitted are the ancestors of the new block above the committed
	// head, oldest first; their txs must not be proposed again.
	Uncommitted []*pb.Block
}

// Payload is what the application gives the leader: the txs and a header
// whose application fields (time, tx_root, tx_count, state_height,
// state_root, results_hash, validator_set_hash) are set. The core
// overwrites the consensus fields (chain_id, view, height, parent_hash,
// proposer) and owns the header after the call.
type Payload struct {
	Txs    [][]byte
	Header *pb.Header
}

// Ready is what the core asks the driver to do. Carry it out in this order
// (driver.Driver does):
//
//  1. Safety: if non-nil, save it with a synced write. Nothing below may
//     happen before the write returns.
//  2. Messages: send them.
//  3. Fetch: ask peers for the blocks.
//  4. Committed: execute and store them in order, then call Core.Applied
//     with the last one's height.
//  5. Evidence: record it.
//  6. ToValidate: after step 4, validate each and report with
//     Core.Validated.
//  7. ProposeSlot: after step 4, build a Payload and call Core.Propose.
//
// The slices belong to the driver once Ready returns.
type Ready struct {
	Safety      *SafetyState
	Messages    []Envelope
	Fetch       []FetchRequest
	Committed   []CommittedBlock
	Evidence    []*pb.EquivocationEvidence
	ToValidate  []ValidationRequest
	ProposeSlot *ProposeSlot
	// Fault is set, once, when the core finds a broken safety invariant
	// (a commit that conflicts with the committed chain). The driver must
	// stop: the replica's state or the network is beyond the fault model.
	Fault error
}

// Empty reports whether the Ready holds nothing to do.
func (r *Ready) Empty() bool {
	return r.Safety == nil && len(r.Messages) == 0 && len(r.Fetch) == 0 && len(r.Committed) == 0 &&
		len(r.Evidence) == 0 && len(r.ToValidate) == 0 && r.ProposeSlot == nil && r.Fault == nil
}

// Status is a snapshot of the core's position.
type Status struct {
	View            uint64
	Leader          int
	CommittedHeight uint64
	CommittedHash   []byte
	HighQCView      uint64
	HighQCHeight    uint64
	LastVotedView   uint64
	LastVotedHeight uint64
}

// Stats counts what the core received and did, so the node can export
// metrics and penalise peers that send bad messages.
type Stats struct {
	Received        uint64
	Invalid         uint64 // provably bad: wrong signature, malformed, bad certificate
	Ignored         uint64 // stale or duplicate
	Buffered        uint64 // kept for a future view
	Dropped         uint64 // over a bound
	OtherEpoch      uint64 // of another validator set: dropped unread
	Verified        uint64 // signatures actually checked
	CacheHits       uint64 // signatures found in the cache
	Votes           uint64 // votes sent
	Timeouts        uint64 // timeouts sent
	Proposals       uint64 // blocks proposed
	Heartbeats      uint64 // heartbeats sent
	Committed       uint64 // blocks committed
	Evidence        uint64 // equivocations found
	InvalidBySender map[int]uint64
}

// Signer signs consensus messages with the replica's validator key.
// crypto.PrivateKey satisfies it.
type Signer interface {
	Public() *pb.PublicKey
	Sign(msg []byte) ([]byte, error)
}
