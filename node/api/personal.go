package api

// Protected content (docs/ARCHITECTURE.md §6, "Who can read what"): a
// record type with protected visibility keeps its content beside the
// chain (node/payloads); the chain and the state hold its commitment. The
// API gives a protected record's metadata, versions, hashes and proofs to
// every caller, and its content only to an authenticated caller the state
// machine's rule entitles (exec.ContentEntitlement), and only once the
// access entry for that release is committed (recorder.go). Every refusal
// is counted (govnode_api_protected_reads_total{outcome="refused"}) and
// logged, a few lines a second at most.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
	"unicode/utf8"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/node/payloads"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Payloads is the node's store of protected payloads (node/payloads).
type Payloads interface {
	// Accept stores a payload that a tx about to be admitted commits to.
	Accept(commitment []byte, p *pb.Payload) error
	// Payload returns the payload with commitment, fetched from a member
	// peer when this node does not hold it.
	Payload(ctx context.Context, commitment []byte) (*pb.Payload, error)
	// Discard deletes a payload Accept stored for a tx that was then
	// refused, unless a committed version commits to it.
	Discard(commitment []byte) error
}

// personal is the API's gate for protected content.
type personal struct {
	rec      *accessRecorder
	released *prometheus.CounterVec // channel
	refused  *prometheus.CounterVec // reason
	log      *slog.Logger
	lines    *rate.Limiter
	watches  chan struct{} // watchPayloadTx's slots
}

func newPersonal(s *Server) *personal {
	log := s.d.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var reg *prometheus.Registry
	if s.d.Metrics != nil {
		reg = s.d.Metrics.Registry
	}
	p := &personal{
		released: registerCounterVec(reg, prometheus.CounterOpts{
			Name: "govnode_api_protected_reads_released_total",
			Help: "Protected record contents released by the API after their access entry committed, by channel (query, events).",
		}, "channel"),
		refused: registerCounterVec(reg, prometheus.CounterOpts{
			Name: "govnode_api_protected_reads_refused_total",
			Help: "Requests for protected record content refused, by reason (anonymous, not_entitled, erased, unavailable, not_recorded, no_recorder).",
		}, "reason"),
		log:     log,
		lines:   rate.NewLimiter(rate.Every(time.Second), 20),
		watches: make(chan struct{}, maxPayloadWatches),
	}
	if s.d.Accesses != nil {
		p.rec = &accessRecorder{s: s, signer: s.d.Accesses}
	}
	return p
}

// refuse counts and logs a refused read and returns err.
func (p *personal) refuse(reason string, caller *Caller, recordID string, err error) error {
	p.refused.WithLabelValues(reason).Inc()
	if p.lines.Allow() {
		p.log.Info("protected content refused", "caller", caller.String(), "record", recordID, "reason", reason, "err", err)
	}
	return err
}

// isProtected reads the record type of rec.
func (s *Server) isProtected(rec *pb.Record) (bool, error) {
	t, err := exec.RecordType(s.d.State, rec.GetRecordType())
	if err != nil {
		return false, fmt.Errorf("record type %s of record %s: %w", rec.GetRecordType(), rec.GetId(), err)
	}
	return exec.IsProtected(t), nil
}

// entitled checks the caller against rec before anything is put on
// chain: the state machine checks again when it executes the access.
func (s *Server) entitled(caller *Caller, rec *pb.Record, legalBasis string) error {
	p := s.personal
	if !caller.Authenticated() {
		return p.refuse("anonymous", caller, rec.GetId(), connect.NewError(connect.CodePermissionDenied, fmt.Errorf(
			"record %s is of protected type %s: anonymous callers get its metadata, versions, hashes and proofs, not its content; authenticate with a client certificate (docs/ARCHITECTURE.md §6)",
			rec.GetId(), rec.GetRecordType())))
	}
	if h := rec.GetErasedHeight(); h > 0 {
		return p.refuse("erased", caller, rec.GetId(), connect.NewError(connect.CodeNotFound, fmt.Errorf(
			"content of record %s was erased at height %d", rec.GetId(), h)))
	}
	if _, err := exec.ContentEntitlement(s.d.State, caller.IdentityID, rec, legalBasis, time.Now().Unix()); err != nil {
		var ref Refusal
		if errors.As(err, &ref) && ref.ResultCode() != pb.ResultCode_RESULT_CODE_INTERNAL {
			return p.refuse("not_entitled", caller, rec.GetId(), connect.NewError(connect.CodePermissionDenied, err))
		}
		return internal(err)
	}
	return nil
}

// contents returns the payloads of versions (deduplicated: a transfer or a
// revocation keeps its version's commitment), each checked against its
// commitment.
func (s *Server) contents(ctx context.Context, caller *Caller, rec *pb.Record, versions []*pb.RecordVersion) ([]*pb.RecordContent, error) {
	if s.d.Payloads == nil {
		return nil, s.personal.refuse("unavailable", caller, rec.GetId(), connect.NewError(connect.CodeFailedPrecondition, errors.New(
			"this node keeps no protected payloads (it is not a member department's node): ask a member node")))
	}
	seen := map[string]*pb.Payload{}
	out := make([]*pb.RecordContent, 0, len(versions))
	for _, v := range versions {
		c := v.GetContentHash()
		pl, ok := seen[string(c)]
		if !ok {
			var err error
			pl, err = s.d.Payloads.Payload(ctx, c)
			if err != nil {
				return nil, s.personal.refuse("unavailable", caller, rec.GetId(), connect.NewError(connect.CodeUnavailable, fmt.Errorf(
					"content of record %s version %d: %w", rec.GetId(), v.GetVersion(), err)))
			}
			if err := s.d.Suite.CheckPayload(c, pl.GetSalt(), pl.GetContent()); err != nil {
				return nil, internal(fmt.Errorf("content of record %s version %d: %w", rec.GetId(), v.GetVersion(), err))
			}
			seen[string(c)] = pl
		}
		out = append(out, &pb.RecordContent{RecordId: rec.GetId(), Version: v.GetVersion(), Payload: pl})
	}
	return out, nil
}

// release puts the accesses on chain and waits for their commit; then it
// re-reads each record, so content erased meanwhile is not released.
func (s *Server) release(ctx context.Context, caller *Caller, channel string, accesses []*pb.ContentAccess) (*pb.AccessReceipt, error) {
	p := s.personal
	if p.rec == nil {
		return nil, p.refuse("no_recorder", caller, accesses[0].GetRecordId(), connect.NewError(connect.CodeFailedPrecondition, errNoRecorder))
	}
	receipt, err := p.rec.record(ctx, accesses)
	if err != nil {
		reason := "not_recorded"
		if connect.CodeOf(err) == connect.CodePermissionDenied {
			reason = "not_entitled"
		}
		return nil, p.refuse(reason, caller, accesses[0].GetRecordId(), err)
	}
	for _, a := range accesses {
		rec, err := exec.Record(s.d.State, a.GetRecordId())
		if err != nil {
			return nil, internal(err)
		}
		if h := rec.GetErasedHeight(); h > 0 {
			return nil, p.refuse("erased", caller, rec.GetId(), connect.NewError(connect.CodeNotFound, fmt.Errorf(
				"content of record %s was erased at height %d", rec.GetId(), h)))
		}
	}
	p.released.WithLabelValues(channel).Add(float64(len(accesses)))
	return receipt, nil
}

// queryContent is QueryRecord's include_content for a protected record:
// the contents of versions (the latest, or all with with_versions).
func (s *Server) queryContent(ctx context.Context, req *pb.QueryRecordRequest, rec *pb.Record, versions []*pb.RecordVersion) ([]*pb.RecordContent, *pb.AccessReceipt, error) {
	caller := CallerFrom(ctx)
	if err := checkPurpose(req.GetPurpose(), req.GetLegalBasis()); err != nil {
		return nil, nil, err
	}
	if err := s.entitled(caller, rec, req.GetLegalBasis()); err != nil {
		return nil, nil, err
	}
	if len(versions) == 0 {
		v, err := exec.RecordVersion(s.d.State, rec.GetId(), rec.GetVersion())
		if err != nil {
			return nil, nil, internal(err)
		}
		versions = []*pb.RecordVersion{v}
	}
	// The payloads are fetched first: a release that cannot be served is
	// not logged as made.
	contents, err := s.contents(ctx, caller, rec, versions)
	if err != nil {
		return nil, nil, err
	}
	receipt, err := s.release(ctx, caller, exec.ChannelQuery, []*pb.ContentAccess{{
		RecordId: rec.GetId(), AccessorId: caller.IdentityID, Purpose: req.GetPurpose(), LegalBasis: req.GetLegalBasis(), Channel: exec.ChannelQuery,
	}})
	if err != nil {
		return nil, nil, err
	}
	return contents, receipt, nil
}

// checkPurpose checks the purpose and legal basis of a release as the
// state machine will (a purpose is required).
func checkPurpose(purpose, legalBasis string) error {
	if purpose == "" {
		return invalidArg("purpose is required to read protected content: it is written in the subject's access log")
	}
	for _, f := range []struct{ name, v string }{{"purpose", purpose}, {"legal_basis", legalBasis}} {
		if len(f.v) > exec.MaxTextBytes || !utf8.ValidString(f.v) {
			return invalidArg("%s must be valid UTF-8 of at most %d bytes", f.name, exec.MaxTextBytes)
		}
	}
	return nil
}

// acceptPayloads checks the payloads sent with a tx and stores them before
// the tx is admitted: a CreateRecord or AmendRecord of a protected type
// carries exactly one, whose commitment is the action's content_hash, and
// no content in the tx; any other tx carries none.
func (s *Server) acceptPayloads(tx []byte, sent []*pb.Payload) (stored []byte, err error) {
	_, body, err := exec.DecodeTx(tx)
	if err != nil {
		if len(sent) == 0 {
			return nil, nil // the mempool refuses it with the full reason
		}
		return nil, invalidArg("tx: %v", err)
	}
	var typeID string
	var hash, content []byte
	switch a := body.GetAction().(type) {
	case *pb.TxBody_CreateRecord:
		typeID, hash, content = a.CreateRecord.GetRecordType(), a.CreateRecord.GetContentHash(), a.CreateRecord.GetContent()
	case *pb.TxBody_AmendRecord:
		rec, err := exec.Record(s.d.State, a.AmendRecord.GetRecordId())
		if err != nil {
			if len(sent) == 0 {
				return nil, nil // not committed yet: the amendment is checked when its block runs
			}
			return nil, connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf(
				"record %s is not committed: send the amendment with its content once the record's creation is committed", a.AmendRecord.GetRecordId()))
		}
		typeID, hash, content = rec.GetRecordType(), a.AmendRecord.GetContentHash(), a.AmendRecord.GetContent()
	default:
		if len(sent) > 0 {
			return nil, invalidArg("payloads go only with a CreateRecord or AmendRecord of a protected record type")
		}
		return nil, nil
	}
	t, err := exec.RecordType(s.d.State, typeID)
	if err != nil {
		if len(sent) == 0 {
			return nil, nil // the mempool refuses it with the full reason
		}
		return nil, invalidArg("record type %q: %v", typeID, err)
	}
	if !exec.IsProtected(t) {
		if len(sent) > 0 {
			return nil, invalidArg("record type %s is public: its content goes in the tx, not in payloads", typeID)
		}
		return nil, nil
	}
	switch {
	case len(content) > 0:
		return nil, invalidArg("record type %s is protected: its content must not be in the tx (blocks are kept for good); send it as SubmitTxRequest.payloads with its commitment as content_hash", typeID)
	case len(sent) != 1:
		return nil, invalidArg("record type %s is protected: send its content as exactly one payload next to the tx (SubmitTxRequest.payloads), got %d", typeID, len(sent))
	}
	p := sent[0]
	if len(p.GetContent()) == 0 {
		return nil, invalidArg("the payload's content is empty")
	}
	if max := t.GetMaxContentBytes(); uint64(len(p.GetContent())) > uint64(max) {
		return nil, connect.NewError(connect.CodeResourceExhausted, fmt.Errorf("the payload's content is %d bytes, record type %s allows %d", len(p.GetContent()), typeID, max))
	}
	if err := s.d.Suite.CheckPayload(hash, p.GetSalt(), p.GetContent()); err != nil {
		return nil, invalidArg("payload: %v (content_hash must be the chain suite's payload commitment H(domain || salt || content), crypto.Suite.PayloadCommitment)", err)
	}
	// The tx must pass admission before its payload touches the disk: a
	// forged or unauthorised tx stores nothing.
	if s.d.CheckTx != nil {
		if err := s.d.CheckTx(tx); err != nil {
			return nil, submitErr(err)
		}
	}
	if s.d.Payloads == nil {
		return nil, connect.NewError(connect.CodeFailedPrecondition, errors.New(
			"this node keeps no protected payloads (it is not a member department's node): submit protected records to a member node"))
	}
	if err := s.d.Payloads.Accept(hash, p); err != nil {
		switch {
		case errors.Is(err, payloads.ErrNotMember):
			return nil, connect.NewError(connect.CodeFailedPrecondition, err)
		case errors.Is(err, payloads.ErrFull):
			return nil, connect.NewError(connect.CodeResourceExhausted, err)
		case errors.Is(err, payloads.ErrErased):
			return nil, connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf("%w: a commitment whose payload was erased cannot be used again", err))
		}
		return nil, internal(fmt.Errorf("store payload: %w", err))
	}
	return hash, nil
}

// payloadTxWait bounds how long a payload's tx is watched (the mempool
// expires a tx it cannot run well before); maxPayloadWatches bounds the
// watches at once (past it, the payload store's pending TTL still
// removes the payload of a tx that never commits).
const (
	payloadTxWait     = 10 * time.Minute
	maxPayloadWatches = 4096
)

// watchPayloadTx discards the payload stored for the tx with hash once
// the tx is committed as failed or dropped from the mempool: an amendment
// that lost a race with its record's erasure, say, leaves no content on
// disk.
func (s *Server) watchPayloadTx(hash, commitment []byte) {
	select {
	case s.personal.watches <- struct{}{}:
	default:
		return
	}
	go func() {
		defer func() { <-s.personal.watches }()
		ctx, cancel := context.WithTimeout(context.Background(), payloadTxWait)
		defer cancel()
		_, res, err := s.WaitForTx(ctx, hash)
		switch {
		case err == nil && res.GetCode() == pb.ResultCode_RESULT_CODE_OK:
			return
		case err != nil && !errors.Is(err, ErrTxDropped):
			return // timed out or shutting down: the pending TTL applies
		}
		if err := s.d.Payloads.Discard(commitment); err != nil {
			s.personal.log.Warn("discard the payload of a refused tx", "tx", fmt.Sprintf("%x", hash), "err", err)
		}
	}()
}
