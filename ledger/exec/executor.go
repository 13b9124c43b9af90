package exec

import (
	"errors"
	"fmt"

	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Executor is govnode's state machine. It holds only its configuration, a
// cache of compiled CEL programs and counters, so one Executor may serve
// CheckTx (the mempool), PreverifyTxs (proposal validation) and ApplyBlock
// (the ledger) concurrently.
type Executor struct {
	cfg  Config
	cel  *celEngine
	sigs sigCounters
}

// New returns an Executor for cfg, which must Validate.
func New(cfg Config) (*Executor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ce, err := newCELEngine(cfg.CELCostLimit, cfg.MaxExprBytes)
	if err != nil {
		return nil, fmt.Errorf("exec: %w", err)
	}
	return &Executor{cfg: cfg, cel: ce}, nil
}

// BlockResult is what executing a block produced.
type BlockResult struct {
	// Results has one entry per transaction, in block order.
	Results []*pb.TxResult
	// Changes are the state writes, sorted by key, one per key, with the
	// final value.
	Changes []Change
	// Events are every event of the block in order: due deadlines first
	// (tx_hash empty), then the transactions', then governance decisions
	// taken at commit (tx_hash empty). event_index numbers them from 0.
	Events []*pb.Event
	// ValidatorUpdate is the new validator set decided in this block, with
	// EffectiveHeight = height + params.validator_change_delay; nil if none.
	ValidatorUpdate *pb.ValidatorSet
	// Params are the new chain parameters when governance changed them in
	// this block (they apply from the next block); nil otherwise.
	Params *pb.Params
}

// CheckResult is the mempool's verdict on a transaction.
type CheckResult struct {
	// Code is RESULT_CODE_OK when the transaction may enter the mempool.
	Code   pb.ResultCode
	Reason string
	TxHash []byte
	// Signer and Nonce are the body's, when it decoded; NextNonce is the
	// signer's next expected nonce in committed state, when the signer is
	// known. The mempool orders a signer's txs by nonce from NextNonce.
	Signer    string
	Nonce     uint64
	NextNonce uint64
}

// OK reports whether the transaction passed.
func (c *CheckResult) OK() bool { return c.Code == pb.ResultCode_RESULT_CODE_OK }

// blockCtx is the state of one ApplyBlock call.
type blockCtx struct {
	st       *overlay
	height   uint64
	timeMs   int64
	params   *pb.Params
	events   []*pb.Event
	toExec   []string // proposals passed in this block, executed at commit
	valset   *pb.ValidatorSet
	newParam *pb.Params
}

// txCtx is one transaction (or one automatic step) being applied.
type txCtx struct {
	e       *Executor
	b       *blockCtx
	st      *overlay // discarded if the action fails
	txHash  []byte
	txIndex uint32
	signer  *pb.Identity // nil for automatic steps
	events  []*pb.Event
}

func (tc *txCtx) actor() string { return tc.signer.GetId() }

// nowSec is the block time in unix seconds, the unit of every time field
// of the schema (valid_until, expires_at, deadlines, CEL's `now`).
func (tc *txCtx) nowSec() int64 { return floorDiv(tc.b.timeMs, 1000) }

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func (tc *txCtx) emit(ev *pb.Event) {
	ev.Height = tc.b.height
	ev.TxHash = tc.txHash
	ev.TxIndex = tc.txIndex
	ev.TimeUnixMs = tc.b.timeMs
	tc.events = append(tc.events, ev)
}

// ApplyBlock executes a block's transactions against committed state r.
// hdr gives the height and block time; txs are serialized SignedTx in block
// order. A bad transaction is a TxResult with a code, never an error: the
// error return is only for a storage failure, a header that does not fit
// this chain, or a broken invariant, and then the block must not commit.
// r is only read.
func (e *Executor) ApplyBlock(r Reader, hdr *pb.Header, txs [][]byte) (*BlockResult, error) {
	if hdr == nil {
		return nil, errors.New("exec: apply block: nil header")
	}
	if hdr.GetChainId() != e.cfg.ChainID {
		return nil, fmt.Errorf("exec: apply block %d: header chain %q, executor chain %q", hdr.GetHeight(), hdr.GetChainId(), e.cfg.ChainID)
	}
	if hdr.GetHeight() == 0 {
		return nil, errors.New("exec: apply block: height 0 is genesis")
	}
	st := newOverlay(readerKV{r})
	params := &pb.Params{}
	ok, err := st.getMsg(keyParams, params)
	if err != nil {
		return nil, fmt.Errorf("exec: apply block %d: %w", hdr.GetHeight(), err)
	}
	if !ok {
		return nil, fmt.Errorf("exec: apply block %d: %w", hdr.GetHeight(), ErrNotInitialised)
	}
	b := &blockCtx{st: st, height: hdr.GetHeight(), timeMs: hdr.GetTimeUnixMs(), params: params}

	if err := e.applyPendingUpgrade(b); err != nil {
		return nil, fmt.Errorf("exec: apply block %d: upgrade: %w", b.height, err)
	}
	if err := e.fireDeadlines(b); err != nil {
		return nil, fmt.Errorf("exec: apply block %d: deadlines: %w", b.height, err)
	}
	// First pass: the signatures not verified before, as one batch (see
	// sigs.go); the sequential pass below uses a verdict only if it was
	// reached with the key then registered.
	pre, err := e.verifyAhead(st, params, txs, false)
	if err != nil {
		return nil, fmt.Errorf("exec: apply block %d: verify signatures: %w", b.height, err)
	}
	res := &BlockResult{Results: make([]*pb.TxResult, 0, len(txs))}
	for i := range txs {
		r, err := e.applyTx(b, uint32(i), &pre[i])
		if err != nil {
			return nil, fmt.Errorf("exec: apply block %d tx %d: %w", b.height, i, err)
		}
		res.Results = append(res.Results, r)
	}
	if err := e.endBlock(b); err != nil {
		return nil, fmt.Errorf("exec: apply block %d: end block: %w", b.height, err)
	}
	for i, ev := range b.events {
		ev.EventIndex = uint32(i)
	}
	res.Events = b.events
	res.ValidatorUpdate = b.valset
	res.Params = b.newParam
	if res.Changes, err = st.changes(); err != nil {
		return nil, fmt.Errorf("exec: apply block %d: %w", b.height, err)
	}
	return res, nil
}

// applyTx runs one transaction. Nonce policy: a transaction that fails the
// envelope checks (size, decoding, chain, signer, nonce, signature) changes
// nothing. One that passes them consumes its nonce even when its action is
// refused: the signer really signed it, so it must never replay later (it
// might succeed then, against the signer's intent at the time), and the
// signer's following transactions, already numbered, are not blocked. The
// refused action's own writes are discarded.
func (e *Executor) applyTx(b *blockCtx, idx uint32, pre *preTx) (*pb.TxResult, error) {
	env, err := e.checkEnvelope(b.st, b.params, pre.tx, true, pre)
	res := &pb.TxResult{TxHash: env.hash}
	if err != nil {
		te, ok := asTxError(err)
		if !ok {
			return nil, err
		}
		res.Code, res.Reason = te.code, te.reason
		return res, nil
	}
	tc := &txCtx{e: e, b: b, st: newOverlay(b.st), txHash: env.hash, txIndex: idx, signer: env.signer}
	err = e.dispatch(tc, env.body)
	if err != nil {
		te, ok := asTxError(err)
		if !ok {
			return nil, err
		}
		res.Code, res.Reason = te.code, te.reason
	} else {
		tc.st.mergeInto(b.st)
		res.Events = tc.events
		b.events = append(b.events, tc.events...)
	}
	b.st.set(kNonce(env.signer.GetId()), encodeU64(env.body.GetNonce()))
	return res, nil
}

// dispatch validates the action's arguments and applies it.
func (e *Executor) dispatch(tc *txCtx, body *pb.TxBody) error {
	if err := e.validateBody(body); err != nil {
		return err
	}
	switch a := body.GetAction().(type) {
	case *pb.TxBody_RegisterOfficial:
		return tc.registerOfficial(a.RegisterOfficial)
	case *pb.TxBody_RegisterSubject:
		return tc.registerSubject(a.RegisterSubject)
	case *pb.TxBody_RotateKey:
		return tc.rotateKey(a.RotateKey)
	case *pb.TxBody_SetIdentityStatus:
		return tc.setIdentityStatus(a.SetIdentityStatus)
	case *pb.TxBody_SetRoles:
		return tc.setRoles(a.SetRoles)
	case *pb.TxBody_IssueCredential:
		return tc.issueCredential(a.IssueCredential)
	case *pb.TxBody_RevokeCredential:
		return tc.revokeCredential(a.RevokeCredential)
	case *pb.TxBody_CreateRecord:
		return tc.createRecord(a.CreateRecord)
	case *pb.TxBody_AmendRecord:
		return tc.amendRecord(a.AmendRecord)
	case *pb.TxBody_ConsentTransfer:
		return tc.consentTransfer(a.ConsentTransfer)
	case *pb.TxBody_TransferRecord:
		return tc.transferRecord(a.TransferRecord)
	case *pb.TxBody_RevokeRecord:
		return tc.revokeRecord(a.RevokeRecord)
	case *pb.TxBody_AccessRecord:
		return tc.accessRecord(a.AccessRecord)
	case *pb.TxBody_GrantAccess:
		return tc.grantAccess(a.GrantAccess)
	case *pb.TxBody_RevokeGrant:
		return tc.revokeGrant(a.RevokeGrant)
	case *pb.TxBody_EraseRecordContent:
		return tc.eraseRecordContent(a.EraseRecordContent)
	case *pb.TxBody_RecordAccesses:
		return tc.recordAccesses(a.RecordAccesses)
	case *pb.TxBody_CreateContract:
		return tc.createContract(a.CreateContract)
	case *pb.TxBody_SignContract:
		return tc.signContract(a.SignContract)
	case *pb.TxBody_SubmitMilestone:
		return tc.submitMilestone(a.SubmitMilestone)
	case *pb.TxBody_AcceptMilestone:
		return tc.acceptMilestone(a.AcceptMilestone)
	case *pb.TxBody_FireTransition:
		return tc.fireTransition(a.FireTransition)
	case *pb.TxBody_PublishTender:
		return tc.publishTender(a.PublishTender)
	case *pb.TxBody_SubmitBid:
		return tc.submitBid(a.SubmitBid)
	case *pb.TxBody_RevealBid:
		return tc.revealBid(a.RevealBid)
	case *pb.TxBody_AwardTender:
		return tc.awardTender(a.AwardTender)
	case *pb.TxBody_SubmitProposal:
		return tc.submitProposal(a.SubmitProposal)
	case *pb.TxBody_VoteProposal:
		return tc.voteProposal(a.VoteProposal)
	case *pb.TxBody_SubmitEvidence:
		return tc.submitEvidence(a.SubmitEvidence)
	default:
		return fail(pb.ResultCode_RESULT_CODE_MALFORMED, "unknown action %T", a)
	}
}

// CheckTx is the mempool's check against committed state r: size,
// decoding, chain id, signer known and active, nonce >= the signer's next,
// signature, the action's argument checks, a pre-check of the signer's
// role for actions only officials may take, of record content against
// its type (precheckContent), of a validator-set proposal against the
// quorum-safety rules (precheckGov), and of a RecordAccesses or an
// EraseRecordContent against the records, identities and grants they
// name (precheckPersonal), and of a tender action against its tender
// (precheckTender). It cannot see the mempool's other pending
// transactions, so other checks that depend on objects (a record, a
// contract) are left to ApplyBlock. The error return is only for a
// storage failure or a state without genesis.
func (e *Executor) CheckTx(r Reader, tx []byte) (*CheckResult, error) {
	return e.Check(r, e.Tx(tx))
}

// ParamsReader is a Reader that holds the chain parameters of the state
// it reads, decoded once per block (the block executor's admission
// reader): Check uses them instead of reading and decoding the params
// record for every tx. Params returns nil when it does not know them.
type ParamsReader interface {
	Reader
	Params() *pb.Params
}

// Check is CheckTx of a tx decoded before (the mempool's admission
// decodes it once: NewTx).
func (e *Executor) Check(r Reader, tx *Tx) (*CheckResult, error) {
	st := newOverlay(readerKV{r})
	var params *pb.Params
	if pr, ok := r.(ParamsReader); ok {
		params = pr.Params()
	}
	if params == nil {
		params = &pb.Params{}
		ok, err := st.getMsg(keyParams, params)
		if err != nil {
			return nil, fmt.Errorf("exec: check tx: %w", err)
		}
		if !ok {
			return nil, fmt.Errorf("exec: check tx: %w", ErrNotInitialised)
		}
	}
	env, err := e.checkEnvelope(st, params, tx, false, nil)
	res := &CheckResult{TxHash: env.hash, Signer: env.body.GetSigner(), Nonce: env.body.GetNonce(), NextNonce: env.next}
	if err == nil {
		err = e.validateBody(env.body)
	}
	if err == nil {
		err = precheckRole(st, env.signer, env.body)
	}
	if err == nil {
		err = precheckContent(e.cfg.Suite, st, env.body)
	}
	if err == nil {
		err = precheckGov(st, r, env.signer, env.body)
	}
	if err == nil {
		err = precheckPersonal(st, r, env.signer, env.body)
	}
	if err == nil {
		err = precheckTender(e.cfg.Suite, st, r, env)
	}
	if err != nil {
		te, ok := asTxError(err)
		if !ok {
			return nil, fmt.Errorf("exec: check tx: %w", err)
		}
		res.Code, res.Reason = te.code, te.reason
	}
	return res, nil
}

// precheckRole refuses, before any block, an official-only action signed
// by someone who is not an active official of a member department with a
// role that could allow it.
func precheckRole(st *overlay, signer *pb.Identity, body *pb.TxBody) error {
	var roles []pb.Role
	switch body.GetAction().(type) {
	case *pb.TxBody_RegisterOfficial, *pb.TxBody_SetRoles, *pb.TxBody_SubmitProposal, *pb.TxBody_VoteProposal:
		roles = []pb.Role{pb.Role_ROLE_ADMIN}
	case *pb.TxBody_RegisterSubject:
		roles = []pb.Role{pb.Role_ROLE_REGISTRAR}
	case *pb.TxBody_SetIdentityStatus:
		roles = []pb.Role{pb.Role_ROLE_ADMIN, pb.Role_ROLE_REGISTRAR}
	case *pb.TxBody_IssueCredential, *pb.TxBody_CreateRecord, *pb.TxBody_AmendRecord,
		*pb.TxBody_TransferRecord, *pb.TxBody_RevokeRecord:
		roles = []pb.Role{pb.Role_ROLE_ISSUER}
	case *pb.TxBody_RevokeCredential:
		roles = []pb.Role{pb.Role_ROLE_ISSUER, pb.Role_ROLE_ADMIN}
	case *pb.TxBody_AccessRecord:
		roles = []pb.Role{pb.Role_ROLE_AUDITOR, pb.Role_ROLE_ISSUER}
	case *pb.TxBody_PublishTender, *pb.TxBody_AwardTender:
		roles = []pb.Role{pb.Role_ROLE_ISSUER, pb.Role_ROLE_ADMIN}
	default:
		return nil
	}
	_, err := requireOfficial(st, signer, roles...)
	return err
}
