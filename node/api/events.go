package api

// The event stream (docs/ARCHITECTURE.md §6, "Inter-agency sync"): every
// committed block's events in order, filtered by record type, department
// and subject when the client asks, with the content of the protected
// records in them for an entitled caller that asks for it; each such
// delivery is released like a QueryRecord's (personal.go): its access
// entry committed first.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"connectrpc.com/connect"

	"github.com/govnode/govnode/ledger/exec"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// maxEventFilterIDs bounds each filter list of StreamEvents.
const maxEventFilterIDs = 32

// eventFilter is a StreamEvents request's filters; empty lists do not
// filter, and with none set every event passes.
type eventFilter struct {
	types, depts, subjects map[string]bool
}

func newEventFilter(req *pb.StreamEventsRequest) (*eventFilter, error) {
	f := &eventFilter{}
	for _, l := range []struct {
		name string
		ids  []string
		dst  *map[string]bool
	}{{"record_types", req.GetRecordTypes(), &f.types}, {"department_ids", req.GetDepartmentIds(), &f.depts}, {"subject_ids", req.GetSubjectIds(), &f.subjects}} {
		if len(l.ids) > maxEventFilterIDs {
			return nil, invalidArg("%s: %d ids, at most %d", l.name, len(l.ids), maxEventFilterIDs)
		}
		if len(l.ids) == 0 {
			continue
		}
		*l.dst = make(map[string]bool, len(l.ids))
		for _, id := range l.ids {
			if err := checkID(l.name, id); err != nil {
				return nil, err
			}
			(*l.dst)[id] = true
		}
	}
	return f, nil
}

func (f *eventFilter) empty() bool { return f.types == nil && f.depts == nil && f.subjects == nil }

// match: with a filter set, only record events of a listed type, by a
// listed (acting) department, about a listed subject.
func (f *eventFilter) match(ev *pb.Event) bool {
	if f.empty() {
		return true
	}
	re := ev.GetRecord()
	if re == nil {
		return false
	}
	return (f.types == nil || f.types[re.GetRecordType()]) &&
		(f.depts == nil || f.depts[re.GetDepartmentId()]) &&
		(f.subjects == nil || f.subjects[re.GetSubjectId()])
}

// StreamEvents sends each committed block's events from from_height on, one
// message per block (blocks without events too, so a client always knows
// the height it has reached), and then follows new commits until the client
// goes away. A client resumes by asking from the height after the last one
// it processed.
func (s *Server) StreamEvents(ctx context.Context, req *connect.Request[pb.StreamEventsRequest], stream *connect.ServerStream[pb.StreamEventsResponse]) error {
	next := req.Msg.GetFromHeight()
	if next == 0 {
		next = 1
	}
	filter, err := newEventFilter(req.Msg)
	if err != nil {
		return err
	}
	// An authenticated stream ends with Unauthenticated once its caller's
	// certificate expires or its identity's key or status changes: checked
	// before each batch and every streamRecheck while idle, one state read
	// each (ARCHITECTURE.md §6).
	caller := CallerFrom(ctx)
	withContent := req.Msg.GetIncludeContent()
	if withContent {
		if !caller.Authenticated() {
			return s.personal.refuse("anonymous", caller, "", connect.NewError(connect.CodePermissionDenied, errors.New(
				"include_content: anonymous callers get events without protected content; authenticate with a client certificate (docs/ARCHITECTURE.md §6)")))
		}
		if err := checkPurpose(req.Msg.GetPurpose(), req.Msg.GetLegalBasis()); err != nil {
			return err
		}
	}
	var recheck <-chan time.Time
	if caller.Authenticated() {
		t := time.NewTicker(streamRecheck)
		defer t.Stop()
		recheck = t.C
	}
	for {
		if err := caller.recheck(time.Now()); err != nil {
			return connect.NewError(connect.CodeUnauthenticated, err)
		}
		head, changed := s.d.Commits.Wait()
		var batch []*pb.StreamEventsResponse
		for ; next <= head && len(batch) < maxStreamBatch; next++ {
			msg, err := s.blockEvents(next)
			if err != nil {
				return internal(err)
			}
			if !filter.empty() {
				kept := msg.Events[:0]
				for _, ev := range msg.Events {
					if filter.match(ev) {
						kept = append(kept, ev)
					}
				}
				msg.Events = kept
			}
			batch = append(batch, msg)
		}
		if withContent && len(batch) > 0 {
			if err := s.attachContents(ctx, caller, req.Msg, batch); err != nil {
				return err
			}
		}
		for _, msg := range batch {
			if err := stream.Send(msg); err != nil {
				return err
			}
		}
		if next <= head {
			if err := ctx.Err(); err != nil {
				return err
			}
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-recheck:
		case <-s.d.Done:
			return connect.NewError(connect.CodeUnavailable, errors.New("node is shutting down"))
		}
	}
}

// attachContents adds to batch the content of every protected version its
// record events created (created, amended) that the caller is entitled to,
// after the accesses are committed: one access entry per record per
// batch, in as few txs as fit (exec.MaxAccessesPerTx each). Records the
// caller is not entitled to, erased ones and ones whose payload no member
// has are sent without content, the refusal counted and logged.
func (s *Server) attachContents(ctx context.Context, caller *Caller, req *pb.StreamEventsRequest, batch []*pb.StreamEventsResponse) error {
	type want struct {
		msg     *pb.StreamEventsResponse
		version uint64
	}
	wants := map[string][]want{}
	var order []string
	for _, msg := range batch {
		for _, ev := range msg.Events {
			re := ev.GetRecord()
			if re == nil || (re.GetAction() != "created" && re.GetAction() != "amended") {
				continue
			}
			if _, ok := wants[re.GetRecordId()]; !ok {
				order = append(order, re.GetRecordId())
			}
			wants[re.GetRecordId()] = append(wants[re.GetRecordId()], want{msg, re.GetVersion()})
		}
	}
	type release struct {
		access *pb.ContentAccess
		parts  []want
		conts  []*pb.RecordContent
	}
	var releases []*release
	for _, id := range order {
		rec, err := exec.Record(s.d.State, id)
		if err != nil {
			return internal(err)
		}
		protected, err := s.isProtected(rec)
		if err != nil {
			return internal(err)
		}
		if !protected {
			continue // public content is in the record's versions for anyone
		}
		if err := s.entitled(caller, rec, req.GetLegalBasis()); err != nil {
			if code := connect.CodeOf(err); code == connect.CodePermissionDenied || code == connect.CodeNotFound {
				continue // counted and logged by entitled; the event goes without content
			}
			return err
		}
		var versions []*pb.RecordVersion
		for _, w := range wants[id] {
			v, err := exec.RecordVersion(s.d.State, id, w.version)
			if err != nil {
				return internal(err)
			}
			versions = append(versions, v)
		}
		conts, err := s.contents(ctx, caller, rec, versions)
		if err != nil {
			if connect.CodeOf(err) == connect.CodeInternal {
				return err
			}
			continue // counted and logged by contents
		}
		releases = append(releases, &release{
			access: &pb.ContentAccess{RecordId: id, AccessorId: caller.IdentityID, Purpose: req.GetPurpose(), LegalBasis: req.GetLegalBasis(), Channel: exec.ChannelEvents},
			parts:  wants[id], conts: conts,
		})
	}
	for start := 0; start < len(releases); start += exec.MaxAccessesPerTx {
		chunk := releases[start:min(start+exec.MaxAccessesPerTx, len(releases))]
		accesses := make([]*pb.ContentAccess, len(chunk))
		for i, r := range chunk {
			accesses[i] = r.access
		}
		receipt, err := s.release(ctx, caller, exec.ChannelEvents, accesses)
		if err != nil {
			// The client resumes from the first block of this batch.
			return fmt.Errorf("release the contents of blocks %d..%d: %w", batch[0].GetHeight(), batch[len(batch)-1].GetHeight(), err)
		}
		for _, r := range chunk {
			for i, w := range r.parts {
				w.msg.Contents = append(w.msg.Contents, r.conts[i])
				w.msg.Access = receipt
			}
		}
	}
	return nil
}
