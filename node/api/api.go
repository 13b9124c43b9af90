package api

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/govnode/govnode/ledger/blockexec"
	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/store"
	"github.com/govnode/govnode/node/mempool"
	pb "github.com/govnode/govnode/proto/govnode/v1"
	"github.com/govnode/govnode/proto/govnode/v1/govnodev1connect"
)

// API limits.
const (
	maxWaitForCommit = 60 * time.Second
	defaultWait      = 30 * time.Second
	maxAccessLog     = 1000
	// maxStreamBatch bounds the blocks a stream sends before it checks the
	// client is still there.
	maxStreamBatch = 256
	// streamRecheck is how often an idle event stream checks that its
	// authenticated caller still is (auth.go); a stream also checks before
	// each batch it sends.
	streamRecheck = 5 * time.Second
)

// Server implements the NodeService API over the node's parts (Deps).
type Server struct {
	d        Deps
	personal *personal
	// bundles holds a slot per proof bundle being built (RecordBundle):
	// one costs up to thousands of state reads, so at most
	// MaxConcurrentBundles run at once.
	bundles chan struct{}
}

var _ govnodev1connect.NodeServiceHandler = (*Server)(nil)

// New makes the API server. It checks that every part it reads is given.
func New(d Deps) (*Server, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	s := &Server{d: d, bundles: make(chan struct{}, MaxConcurrentBundles)}
	s.personal = newPersonal(s)
	return s, nil
}

func invalidArg(format string, args ...any) error {
	return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf(format, args...))
}

// checkID refuses an id that no object can have (charset, length), before
// it is used to build a state key.
func checkID(field, id string) error {
	if id == "" {
		return invalidArg("%s is empty", field)
	}
	if err := exec.ValidID(id); err != nil {
		return invalidArg("%s %q: %v", field, id, err)
	}
	return nil
}

func notFound(format string, args ...any) error {
	return connect.NewError(connect.CodeNotFound, fmt.Errorf(format, args...))
}

func internal(err error) error {
	return connect.NewError(connect.CodeInternal, err)
}

// queryErr maps a state-machine query error to an API error.
func queryErr(what, id string, err error) error {
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, store.ErrNotFound) {
		return notFound("%s %q not found", what, id)
	}
	return internal(fmt.Errorf("read %s %q: %w", what, id, err))
}

// Refusal is the checker's refusal of a tx (the block executor's CheckTx,
// through the mempool): the state machine's result code says why, and
// picks the API's code.
type Refusal interface {
	error
	ResultCode() pb.ResultCode
}

// submitErr maps a mempool refusal to an API error with the right code.
func submitErr(err error) error {
	var ref Refusal
	var be *mempool.BacklogError
	switch {
	case errors.As(err, &be):
		// The backlog bound (mempool.Reserve): when to retry, as the rate
		// limiter says it (RetryInfo; the headers are the caller's).
		ce := connect.NewError(connect.CodeResourceExhausted, err)
		if d, derr := connect.NewErrorDetail(&errdetails.RetryInfo{RetryDelay: durationpb.New(be.RetryAfter)}); derr == nil {
			ce.AddDetail(d)
		}
		setRetryHeaders(ce.Meta(), err)
		return ce
	// ErrSignerFull and ErrQueuedFull wrap ErrMempoolFull: try later.
	case errors.Is(err, mempool.ErrMempoolFull), errors.Is(err, mempool.ErrTxTooLarge):
		return connect.NewError(connect.CodeResourceExhausted, err)
	case errors.Is(err, mempool.ErrDuplicateTx):
		return connect.NewError(connect.CodeAlreadyExists, err)
	case errors.Is(err, mempool.ErrStaleNonce), errors.Is(err, mempool.ErrNonceTaken), errors.Is(err, mempool.ErrNonceTooFar):
		return connect.NewError(connect.CodeFailedPrecondition, err)
	case errors.As(err, &ref):
		switch ref.ResultCode() {
		case pb.ResultCode_RESULT_CODE_UNAUTHORIZED, pb.ResultCode_RESULT_CODE_SIGNER_INACTIVE:
			return connect.NewError(connect.CodePermissionDenied, err)
		case pb.ResultCode_RESULT_CODE_BAD_SIGNATURE, pb.ResultCode_RESULT_CODE_UNKNOWN_SIGNER:
			return connect.NewError(connect.CodeUnauthenticated, err)
		case pb.ResultCode_RESULT_CODE_BAD_NONCE, pb.ResultCode_RESULT_CODE_CONFLICT:
			// CONFLICT: the state does not allow it now (the
			// quorum-safety rules of a validator-set change).
			return connect.NewError(connect.CodeFailedPrecondition, err)
		case pb.ResultCode_RESULT_CODE_TOO_LARGE:
			return connect.NewError(connect.CodeResourceExhausted, err)
		}
		return connect.NewError(connect.CodeInvalidArgument, err)
	default:
		return connect.NewError(connect.CodeInvalidArgument, err)
	}
}

func (s *Server) SubmitTx(ctx context.Context, req *connect.Request[pb.SubmitTxRequest]) (*connect.Response[pb.SubmitTxResponse], error) {
	submitFailed := false
	tx := req.Msg.GetTx()
	if len(tx) == 0 {
		return nil, invalidArg("tx is empty")
	}
	// The backlog bound, before the tx is decoded or its payload checked
	// (mempool.Reserve); released once the mempool has answered.
	if _, err := s.d.Mempool.Reserve(1, time.Now()); err != nil {
		s.d.Metrics.MempoolRejected.WithLabelValues("backlog").Inc()
		return nil, submitErr(err)
	}
	released := false
	release := func() {
		if !released {
			released = true
			s.d.Mempool.Release(1)
		}
	}
	defer release()
	stored, err := s.acceptPayloads(tx, req.Msg.GetPayloads())
	if err != nil {
		s.d.Metrics.MempoolRejected.WithLabelValues("payload").Inc()
		return nil, err
	}
	// A payload stored for a tx that is then refused goes at once.
	defer func() {
		if stored != nil && submitFailed {
			_ = s.d.Payloads.Discard(stored)
		}
	}()
	if s.d.PreSubmit != nil {
		if err := s.d.PreSubmit(tx); err != nil {
			s.d.Metrics.MempoolRejected.WithLabelValues("pre_submit").Inc()
			submitFailed = true
			return nil, err
		}
	}
	hash, err := s.d.Submit(ctx, tx)
	release()
	if err != nil {
		s.d.Metrics.MempoolRejected.WithLabelValues(rejectReason(err)).Inc()
		// A duplicate's payload is the admitted tx's: it stays.
		submitFailed = !errors.Is(err, mempool.ErrDuplicateTx)
		return nil, submitErr(err)
	}
	resp := &pb.SubmitTxResponse{TxHash: hash}
	if stored != nil {
		s.watchPayloadTx(hash, stored)
	}
	if !req.Msg.GetWaitForCommit() {
		return connect.NewResponse(resp), nil
	}
	wait := waitOf(req.Msg.GetWaitTimeoutMs())
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	loc, result, err := s.WaitForTx(wctx, hash)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, connect.NewError(connect.CodeDeadlineExceeded, fmt.Errorf("tx %x not committed within %s (it stays in the mempool)", hash, wait))
		}
		if ctx.Err() != nil {
			return nil, connect.NewError(connect.CodeCanceled, err)
		}
		if errors.Is(err, ErrTxDropped) {
			return nil, connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf("tx %x: %w", hash, err))
		}
		return nil, connect.NewError(connect.CodeUnavailable, err)
	}
	resp.Committed, resp.Height, resp.Result = true, loc.Height, result
	return connect.NewResponse(resp), nil
}

// rejectReason is the reason label of govnode_mempool_rejected_total.
func rejectReason(err error) string {
	var ref Refusal
	switch {
	case errors.Is(err, mempool.ErrBacklog):
		return "backlog"
	case errors.Is(err, mempool.ErrSignerFull):
		return "signer_full"
	case errors.Is(err, mempool.ErrQueuedFull):
		return "queued_full"
	case errors.Is(err, mempool.ErrMempoolFull):
		return "full"
	case errors.Is(err, mempool.ErrDuplicateTx):
		return "duplicate"
	case errors.Is(err, mempool.ErrStaleNonce), errors.Is(err, mempool.ErrNonceTaken), errors.Is(err, mempool.ErrNonceTooFar):
		return "nonce"
	case errors.Is(err, mempool.ErrTxTooLarge):
		return "too_large"
	case errors.As(err, &ref):
		return "invalid"
	default:
		return "invalid"
	}
}

func (s *Server) GetTx(ctx context.Context, req *connect.Request[pb.GetTxRequest]) (*connect.Response[pb.GetTxResponse], error) {
	h, err := hashArg("tx_hash", req.Msg.GetTxHash())
	if err != nil {
		return nil, err
	}
	loc, result, err := s.committedTx(h)
	if err == nil {
		block, err := s.block(loc.Height)
		if err != nil {
			return nil, internal(err)
		}
		if int(loc.Index) >= len(block.GetTxs()) {
			return nil, internal(fmt.Errorf("tx index %d out of block %d", loc.Index, loc.Height))
		}
		tx := block.GetTxs()[loc.Index]
		return connect.NewResponse(&pb.GetTxResponse{Tx: tx, Body: txBody(tx), Height: loc.Height, Index: loc.Index, Result: result}), nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return nil, internal(err)
	}
	if tx, ok := s.d.Mempool.Get(h); ok {
		return connect.NewResponse(&pb.GetTxResponse{Tx: tx, Body: txBody(tx), Pending: true}), nil
	}
	if reason, ok := s.d.Mempool.Dropped(h); ok {
		return nil, connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf("tx %x was admitted, then dropped from the mempool: %s", h, reason))
	}
	return nil, notFound("tx %x not found", h)
}

func (s *Server) GetBlock(ctx context.Context, req *connect.Request[pb.GetBlockRequest]) (*connect.Response[pb.GetBlockResponse], error) {
	head, _ := s.d.Ledger.Height()
	h := req.Msg.GetHeight()
	if req.Msg.GetLatest() {
		h = head
	}
	if h == 0 {
		return nil, invalidArg("height 0 is the genesis state, which has no block; ask for a height from 1 or latest")
	}
	if h > head {
		return nil, notFound("block %d not committed yet (height %d)", h, head)
	}
	resp, err := s.blockResponse(h)
	if err != nil {
		return nil, internal(err)
	}
	resp.TxBodies = make([]*pb.TxBody, len(resp.Block.GetTxs()))
	for i, tx := range resp.Block.GetTxs() {
		resp.TxBodies[i] = txBody(tx)
	}
	return connect.NewResponse(resp), nil
}

// txBody is a tx's signed body decoded, for reading (GetTx, GetBlock); a
// tx that does not decode, which no committed block holds, gets an empty
// one so that the list stays aligned with the block's txs.
func txBody(tx []byte) *pb.TxBody {
	_, body, err := exec.DecodeTx(tx)
	if err != nil {
		return &pb.TxBody{}
	}
	return body
}

func (s *Server) Status(ctx context.Context, req *connect.Request[pb.StatusRequest]) (*connect.Response[pb.StatusResponse], error) {
	st, err := s.status()
	if err != nil {
		return nil, internal(err)
	}
	st.CallerId = CallerFrom(ctx).IdentityID
	return connect.NewResponse(st), nil
}

func (s *Server) QueryIdentity(ctx context.Context, req *connect.Request[pb.QueryIdentityRequest]) (*connect.Response[pb.QueryIdentityResponse], error) {
	id := req.Msg.GetIdentityId()
	if err := checkID("identity_id", id); err != nil {
		return nil, err
	}
	if h := req.Msg.GetHeight(); h > 0 {
		return s.queryIdentityAt(id, h, req.Msg.GetProve())
	}
	r := s.d.State
	height, _ := s.d.Ledger.Height()
	ident, err := exec.Identity(r, id)
	if err != nil {
		return nil, queryErr("identity", id, err)
	}
	creds, err := exec.Credentials(r, id)
	if err != nil {
		return nil, internal(err)
	}
	resp := &pb.QueryIdentityResponse{Identity: ident, Credentials: creds, Height: height}
	if req.Msg.GetProve() {
		if resp.Proof, err = s.stateProof(exec.IdentityKey(id)); err != nil {
			return nil, internal(err)
		}
	}
	return connect.NewResponse(resp), nil
}

// queryIdentityAt is QueryIdentity at past height h (query_height.go):
// the identity and its credentials as they were in the state after h.
func (s *Server) queryIdentityAt(id string, h uint64, prove bool) (*connect.Response[pb.QueryIdentityResponse], error) {
	r, hr, err := s.pastHeight(h)
	if err != nil {
		return nil, err
	}
	ident, err := exec.Identity(r, id)
	if err != nil {
		return nil, pastErr("identity", id, h, hr, err)
	}
	creds, err := s.credentialsAt(r, id)
	if err != nil {
		return nil, pastErr("credentials of identity", id, h, hr, err)
	}
	resp := &pb.QueryIdentityResponse{Identity: ident, Credentials: creds, Height: h}
	if prove {
		if resp.Proof, err = s.proofAtHeight(h, hr, exec.IdentityKey(id)); err != nil {
			return nil, err
		}
	}
	return connect.NewResponse(resp), nil
}

func (s *Server) QueryRecord(ctx context.Context, req *connect.Request[pb.QueryRecordRequest]) (*connect.Response[pb.QueryRecordResponse], error) {
	id := req.Msg.GetRecordId()
	if err := checkID("record_id", id); err != nil {
		return nil, err
	}
	if h := req.Msg.GetHeight(); h > 0 {
		return s.queryRecordAt(ctx, req.Msg, h)
	}
	r := s.d.State
	height, _ := s.d.Ledger.Height()
	rec, err := exec.Record(r, id)
	if err != nil {
		return nil, queryErr("record", id, err)
	}
	resp := &pb.QueryRecordResponse{Record: rec, Height: height}
	if req.Msg.GetWithVersions() {
		if resp.Versions, err = exec.RecordVersions(r, id); err != nil {
			return nil, internal(err)
		}
	}
	if req.Msg.GetIncludeContent() {
		protected, err := s.isProtected(rec)
		if err != nil {
			return nil, internal(err)
		}
		// A public record's content is in its versions already.
		if protected {
			if resp.Contents, resp.Access, err = s.queryContent(ctx, req.Msg, rec, resp.Versions); err != nil {
				return nil, err
			}
		}
	}
	if req.Msg.GetProve() {
		if resp.Proof, err = s.stateProof(exec.RecordKey(id)); err != nil {
			return nil, internal(err)
		}
	}
	return connect.NewResponse(resp), nil
}

// queryRecordAt is QueryRecord at past height h (query_height.go): the
// record and the versions that existed in the state after h. A protected
// record's content is released as at any height: to a caller entitled
// now, under the record as it is now (an erasure since withholds it), with
// the access committed to the log first; the versions released are those
// of h (the one current at h, or every one up to h with with_versions).
func (s *Server) queryRecordAt(ctx context.Context, m *pb.QueryRecordRequest, h uint64) (*connect.Response[pb.QueryRecordResponse], error) {
	id := m.GetRecordId()
	r, hr, err := s.pastHeight(h)
	if err != nil {
		return nil, err
	}
	rec, err := exec.Record(r, id)
	if err != nil {
		return nil, pastErr("record", id, h, hr, err)
	}
	resp := &pb.QueryRecordResponse{Record: rec, Height: h}
	if m.GetWithVersions() {
		if resp.Versions, err = recordVersionsAt(r, rec); err != nil {
			return nil, pastErr("versions of record", id, h, hr, err)
		}
	}
	if m.GetIncludeContent() {
		now, err := exec.Record(s.d.State, id)
		if err != nil {
			return nil, internal(fmt.Errorf("record %s exists at height %d but not now: %w", id, h, err))
		}
		protected, err := s.isProtected(now)
		if err != nil {
			return nil, internal(err)
		}
		if protected {
			release := resp.Versions
			if len(release) == 0 {
				v, err := exec.RecordVersion(r, id, rec.GetVersion())
				if err != nil {
					return nil, pastErr("version of record", id, h, hr, err)
				}
				release = []*pb.RecordVersion{v}
			}
			if resp.Contents, resp.Access, err = s.queryContent(ctx, m, now, release); err != nil {
				return nil, err
			}
		}
	}
	if m.GetProve() {
		if resp.Proof, err = s.proofAtHeight(h, hr, exec.RecordKey(id)); err != nil {
			return nil, err
		}
	}
	return connect.NewResponse(resp), nil
}

func (s *Server) QueryAccessLog(ctx context.Context, req *connect.Request[pb.QueryAccessLogRequest]) (*connect.Response[pb.QueryAccessLogResponse], error) {
	limit := req.Msg.GetLimit()
	if limit == 0 || limit > maxAccessLog {
		limit = maxAccessLog
	}
	r := s.d.State
	height, _ := s.d.Ledger.Height()
	rec, subj := req.Msg.GetRecordId(), req.Msg.GetSubjectId()
	switch {
	case rec != "" && subj != "":
		return nil, invalidArg("give record_id or subject_id, not both")
	case rec != "":
		if err := checkID("record_id", rec); err != nil {
			return nil, err
		}
	case subj != "":
		if err := checkID("subject_id", subj); err != nil {
			return nil, err
		}
	default:
		return nil, invalidArg("record_id or subject_id is required")
	}
	afterRec, afterSeq, err := parsePageToken(req.Msg.GetPageToken(), rec)
	if err != nil {
		return nil, err
	}
	entries, more, err := exec.AccessLogPage(r, rec, subj, afterRec, afterSeq, limit)
	if err != nil {
		return nil, queryErr("access log of", rec+subj, err)
	}
	resp := &pb.QueryAccessLogResponse{Entries: entries, Height: height}
	if more && len(entries) > 0 {
		last := entries[len(entries)-1]
		resp.NextPageToken = last.GetRecordId() + "/" + strconv.FormatUint(last.GetSeq(), 10)
	}
	if req.Msg.GetProve() {
		// Each entry's proof is against the header of one state height
		// (stateProof proves at the latest committed header); a citizen
		// checks every entry the node claims.
		for _, e := range entries {
			p, err := s.stateProof(exec.AccessEntryKey(e.GetRecordId(), e.GetSeq()))
			if err != nil {
				return nil, internal(err)
			}
			resp.Proofs = append(resp.Proofs, p)
		}
	}
	return connect.NewResponse(resp), nil
}

func (s *Server) QueryContract(ctx context.Context, req *connect.Request[pb.QueryContractRequest]) (*connect.Response[pb.QueryContractResponse], error) {
	id := req.Msg.GetContractId()
	if err := checkID("contract_id", id); err != nil {
		return nil, err
	}
	height, _ := s.d.Ledger.Height()
	c, err := exec.Contract(s.d.State, id)
	if err != nil {
		return nil, queryErr("contract", id, err)
	}
	resp := &pb.QueryContractResponse{Contract: c, Height: height}
	if req.Msg.GetProve() {
		if resp.Proof, err = s.stateProof(exec.ContractKey(id)); err != nil {
			return nil, internal(err)
		}
	}
	return connect.NewResponse(resp), nil
}

func (s *Server) QueryProposal(ctx context.Context, req *connect.Request[pb.QueryProposalRequest]) (*connect.Response[pb.QueryProposalResponse], error) {
	id := req.Msg.GetProposalId()
	if err := checkID("proposal_id", id); err != nil {
		return nil, err
	}
	height, _ := s.d.Ledger.Height()
	p, err := exec.Proposal(s.d.State, id)
	if err != nil {
		return nil, queryErr("proposal", id, err)
	}
	resp := &pb.QueryProposalResponse{Proposal: p, Height: height}
	if req.Msg.GetProve() {
		if resp.Proof, err = s.stateProof(exec.ProposalKey(id)); err != nil {
			return nil, internal(err)
		}
	}
	return connect.NewResponse(resp), nil
}

func (s *Server) QueryState(ctx context.Context, req *connect.Request[pb.QueryStateRequest]) (*connect.Response[pb.QueryStateResponse], error) {
	key := req.Msg.GetKey()
	if len(key) == 0 || len(key) > 1024 {
		return nil, invalidArg("key must be 1..1024 bytes, got %d", len(key))
	}
	if h := req.Msg.GetHeight(); h > 0 {
		return s.queryStateAt(key, h, req.Msg.GetProve())
	}
	height, _ := s.d.Ledger.Height()
	resp := &pb.QueryStateResponse{Height: height}
	v, err := s.d.Ledger.Get(key)
	switch {
	case err == nil:
		resp.Value, resp.Found = v, true
	case errors.Is(err, store.ErrNotFound):
	default:
		return nil, internal(err)
	}
	if req.Msg.GetProve() {
		if resp.Proof, err = s.stateProof(key); err != nil {
			return nil, internal(err)
		}
	}
	return connect.NewResponse(resp), nil
}

// queryStateAt is QueryState at past height h (query_height.go): key in
// the state after h; absent, with prove, comes with its proof of absence.
func (s *Server) queryStateAt(key []byte, h uint64, prove bool) (*connect.Response[pb.QueryStateResponse], error) {
	r, hr, err := s.pastHeight(h)
	if err != nil {
		return nil, err
	}
	resp := &pb.QueryStateResponse{Height: h}
	v, err := r.Get(key)
	switch {
	case err == nil:
		resp.Value, resp.Found = v, true
	case errors.Is(err, exec.ErrNotFound):
	default:
		return nil, pastErr("state key", fmt.Sprintf("%x", key), h, hr, err)
	}
	if prove {
		if resp.Proof, err = s.proofAtHeight(h, hr, key); err != nil {
			return nil, err
		}
	}
	return connect.NewResponse(resp), nil
}

// parsePageToken reads an access-log page token, "<record id>/<seq>" (the
// last entry of the page before); for a record's log the record must be
// that record.
func parsePageToken(tok, record string) (string, uint64, error) {
	if tok == "" {
		return "", 0, nil
	}
	rec, seqText, ok := strings.Cut(tok, "/")
	seq, err := strconv.ParseUint(seqText, 10, 64)
	if !ok || err != nil || seq == 0 || checkID("page_token record", rec) != nil || (record != "" && rec != record) {
		return "", 0, invalidArg("page_token %q is not a next_page_token of this access log", tok)
	}
	return rec, seq, nil
}

// blockEvents returns every event of block h in event order: the block's
// own events (deadlines, governance decisions) and its txs' events.
func (s *Server) blockEvents(h uint64) (*pb.StreamEventsResponse, error) {
	hash, _, err := s.d.Ledger.BlockByHeight(h)
	if err != nil {
		return nil, fmt.Errorf("block %d: %w", h, err)
	}
	evs, err := blockexec.BlockEvents(s.d.Ledger, h)
	if err != nil {
		return nil, err
	}
	return &pb.StreamEventsResponse{Height: h, BlockHash: hash[:], Events: evs}, nil
}
