package client

// Following the chain (docs/ARCHITECTURE.md §6, "Inter-agency sync"):
// StreamEvents sends one response per committed block from from_height on
// (filters thin the events, never the blocks), so a client always knows how
// far it has read. Follow keeps the stream going across disconnects: it
// reconnects with backoff and asks again from the block after the last one
// it delivered, dropping any block it already delivered; so each height is
// delivered once, in order, with none skipped.

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/ledger/exec"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// FollowOptions tune Follow. The zero value reconnects for ever (until the
// context ends) with backoff from 250 ms to 5 s.
type FollowOptions struct {
	// NoReconnect ends the stream at the first break.
	NoReconnect bool
	// MinBackoff and MaxBackoff bound the wait before a reconnection; it
	// doubles after each failure and starts again after a delivered block.
	MinBackoff, MaxBackoff time.Duration
	// RenewGap: an authenticated stream that ran this long and ends
	// unauthenticated is taken for its client certificate expiring, and
	// resumed at once on a new connection (a fresh certificate); sooner, it
	// is the node refusing the identity, and final. Default 10 s.
	RenewGap time.Duration
	// OnReconnect, if set, is told each reconnection: why, the height it
	// resumes at, and the wait before it (0 for a certificate renewal).
	OnReconnect func(err error, next uint64, wait time.Duration)
}

// FollowError ends a Follow: the stream broke for good. Next is the height
// to resume at.
type FollowError struct {
	Next uint64
	Err  error
}

func (e *FollowError) Error() string {
	return fmt.Sprintf("stream events: %v (resume from height %d)", e.Err, e.Next)
}
func (e *FollowError) Unwrap() error { return e.Err }

// Retryable says whether a broken stream is worth resuming: not when the
// node refused the request itself (bad filter, unknown height, no right).
func Retryable(err error) bool {
	switch connect.CodeOf(err) {
	case connect.CodeInvalidArgument, connect.CodeNotFound, connect.CodeUnimplemented,
		connect.CodePermissionDenied, connect.CodeUnauthenticated, connect.CodeFailedPrecondition, connect.CodeOutOfRange:
		return false
	}
	return true
}

// MaxStreamFilter is the most ids one filter of StreamEvents takes.
const MaxStreamFilter = 32

// CheckStreamRequest checks a StreamEvents request's filters where they
// enter: each at most MaxStreamFilter ids, each a valid id
// (exec.ValidID), and a purpose with include_content.
func CheckStreamRequest(req *pb.StreamEventsRequest) error {
	for _, f := range []struct {
		name string
		ids  []string
	}{{"record types", req.GetRecordTypes()}, {"departments", req.GetDepartmentIds()}, {"subjects", req.GetSubjectIds()}} {
		if len(f.ids) > MaxStreamFilter {
			return fmt.Errorf("%s filter: %d ids, at most %d", f.name, len(f.ids), MaxStreamFilter)
		}
		for _, id := range f.ids {
			if err := exec.ValidID(id); err != nil {
				return fmt.Errorf("%s filter %q: %w", f.name, id, err)
			}
		}
	}
	if req.GetIncludeContent() && strings.TrimSpace(req.GetPurpose()) == "" {
		return errors.New("include_content needs a purpose: the node logs each release with it")
	}
	for name, v := range map[string]string{"purpose": req.GetPurpose(), "legal basis": req.GetLegalBasis()} {
		if len(v) > exec.MaxTextBytes {
			return fmt.Errorf("%s: %d bytes, at most %d", name, len(v), exec.MaxTextBytes)
		}
	}
	return nil
}

// Follow streams the committed blocks of req (from req.FromHeight on, with
// its filters) as they are committed: each block once, in height order.
// A break is resumed as FollowOptions says; a final error is yielded once
// as a *FollowError, and then the sequence ends. It ends silently when ctx
// ends or the loop stops.
func (c *Client) Follow(ctx context.Context, req *pb.StreamEventsRequest, o FollowOptions) iter.Seq2[*pb.StreamEventsResponse, error] {
	if o.MinBackoff <= 0 {
		o.MinBackoff = 250 * time.Millisecond
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(5*time.Second, o.MinBackoff)
	}
	if o.RenewGap <= 0 {
		o.RenewGap = 10 * time.Second
	}
	return func(yield func(*pb.StreamEventsResponse, error) bool) {
		if err := CheckStreamRequest(req); err != nil {
			yield(nil, &FollowError{Next: req.GetFromHeight(), Err: err})
			return
		}
		next := max(req.GetFromHeight(), 1) // the node streams 0 from 1
		backoff := o.MinBackoff
		since := time.Now() // the current connection's certificate is from then on
		for {
			r := proto.Clone(req).(*pb.StreamEventsRequest)
			r.FromHeight = next
			stream, err := c.rpc.StreamEvents(ctx, connect.NewRequest(r))
			if err == nil {
				for stream.Receive() {
					m := stream.Msg()
					if m.GetHeight() < next {
						continue // delivered already, resent after a resume
					}
					if m.GetHeight() > next {
						// The node sends every block from from_height on:
						// a jump would skip blocks' events unseen. Ask
						// again from next.
						err = fmt.Errorf("the node sent block %d where block %d was next", m.GetHeight(), next)
						break
					}
					if !yield(m, nil) {
						stream.Close()
						return
					}
					next = m.GetHeight() + 1
					backoff = o.MinBackoff
				}
				if err == nil {
					err = stream.Err()
				}
				stream.Close()
			}
			if ctx.Err() != nil {
				return
			}
			if err == nil {
				err = errors.New("stream ended")
			}
			if !o.NoReconnect && c.authenticated && connect.CodeOf(err) == connect.CodeUnauthenticated && time.Since(since) >= o.RenewGap {
				if o.OnReconnect != nil {
					o.OnReconnect(err, next, 0)
				}
				c.Renew()
				since = time.Now()
				continue
			}
			if o.NoReconnect || !Retryable(err) {
				yield(nil, &FollowError{Next: next, Err: c.callErr("stream events", err)})
				return
			}
			if o.OnReconnect != nil {
				o.OnReconnect(err, next, backoff)
			}
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			backoff = min(2*backoff, o.MaxBackoff)
		}
	}
}
