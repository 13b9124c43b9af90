package api

// Queries at a past height (QueryIdentity, QueryRecord and QueryState with
// height set; docs/ARCHITECTURE.md §6). The ledger keeps every version of
// the state tree (ledger/state: nothing is pruned), so the state after any
// committed height h can be read and proven; a proof rests on a committed
// header whose state_height is h.
//
// The contract, for a request's height h:
//
//   - 0: the newest state, as before (the answer's height is the head).
//   - 1 <= h <= S, where S is the state_height the head's header attests
//     (the newest attested state): the answer is the state after exactly h,
//     and its height is h. Nothing is ever answered at another height than
//     the one asked.
//   - With prove, the proof rests on the lowest committed header whose
//     state_height is h. state_height grows along the chain but can skip a
//     height (a view change lets a block commit two ancestors at once):
//     when no header attests h, no proof at h exists, and the query is
//     refused (FailedPrecondition) naming the attested heights just below
//     and above h, which an auditor can ask for instead. Without prove
//     such an h is answered, from the node's own ledger.
//   - h > S: OutOfRange, naming S and the head (a height above the head is
//     in the future; one between S and the head is not attested yet).
//   - a state the ledger does not hold (a ledger that lost old versions):
//     FailedPrecondition.
//
// The state tree is keyed by the hash of each key, so a past version has
// no prefix scans: what a query lists is read key by key (a record's
// versions 1..N, N its version at h; an identity's credentials by the
// subject's credential index, which only grows).

import (
	"errors"
	"fmt"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/store"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// errStateNotHeld: the ledger holds no state tree version at the height
// asked.
var errStateNotHeld = errors.New("the ledger does not hold the state at this height")

// stateAt is the committed state after height h as the state machine's
// queries read it: point reads of the versioned state tree.
type stateAt struct {
	l Ledger
	h uint64
}

var _ exec.Reader = stateAt{}

func (r stateAt) Get(key []byte) ([]byte, error) {
	// The proof is dropped: the Ledger reads past versions only with one,
	// and its cost is the siblings on the path the lookup walks anyway.
	v, p, err := r.l.GetWithProof(r.h, key)
	switch {
	case err == nil && v != nil:
		return v, nil
	case err == nil, errors.Is(err, store.ErrNotFound) && p != nil:
		return nil, fmt.Errorf("%w: %q at height %d", exec.ErrNotFound, key, r.h)
	case errors.Is(err, store.ErrNotFound):
		// No proof: the tree has no version h.
		return nil, fmt.Errorf("read %q at height %d: %w", key, r.h, errStateNotHeld)
	}
	return nil, fmt.Errorf("read %q at height %d: %w", key, r.h, err)
}

// Iterate refuses: a past version of the tree, keyed by key hash, has no
// ordered scans.
func (r stateAt) Iterate(start, end []byte, fn func(key, value []byte) error) error {
	return fmt.Errorf("the state at height %d is read key by key: no range scan of [%q, %q)", r.h, start, end)
}

// heightRange is what a past-height query is checked against.
type heightRange struct {
	head uint64 // the ledger's committed height
	// attested is the newest state a committed header attests: the
	// head's state_height.
	attested uint64
}

// pastHeight checks a query's height h > 0 against the committed chain and
// returns the reader of the state after h. Its errors are the API's.
func (s *Server) pastHeight(h uint64) (exec.Reader, heightRange, error) {
	head, _ := s.d.Ledger.Height()
	if head == 0 {
		return nil, heightRange{}, connect.NewError(connect.CodeFailedPrecondition, errors.New("no committed block attests a state yet: ask without height"))
	}
	hdr, err := s.header(head)
	if err != nil {
		return nil, heightRange{}, internal(err)
	}
	hr := heightRange{head: head, attested: hdr.GetStateHeight()}
	switch {
	case h > head:
		return nil, hr, connect.NewError(connect.CodeOutOfRange, fmt.Errorf(
			"height %d is in the future: the chain is at height %d, and the newest state a committed header attests is at height %d", h, head, hr.attested))
	case h > hr.attested:
		return nil, hr, connect.NewError(connect.CodeOutOfRange, fmt.Errorf(
			"height %d is not attested yet: the newest state a committed header attests is at height %d (the chain is at %d); ask for a height up to %d, or again after the next commits",
			h, hr.attested, head, hr.attested))
	}
	// The state root after h is recorded with every committed height; the
	// tree's version is checked by the first read (errStateNotHeld).
	if _, err := s.d.Ledger.StateRoot(h); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, hr, notHeld(h, hr)
		}
		return nil, hr, internal(err)
	}
	return stateAt{l: s.d.Ledger, h: h}, hr, nil
}

func notHeld(h uint64, hr heightRange) error {
	return connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf(
		"this node's ledger no longer holds the state at height %d (the newest attested state is at height %d)", h, hr.attested))
}

// pastErr maps an error of a read at a past height h.
func pastErr(what, id string, h uint64, hr heightRange, err error) error {
	switch {
	case errors.Is(err, errStateNotHeld):
		return notHeld(h, hr)
	case errors.Is(err, exec.ErrNotFound) || errors.Is(err, store.ErrNotFound):
		return notFound("%s %q not found at height %d", what, id, h)
	}
	return internal(fmt.Errorf("read %s %q at height %d: %w", what, id, h, err))
}

// header loads and decodes the header of committed block b.
func (s *Server) header(b uint64) (*pb.Header, error) {
	blk, err := s.block(b)
	if err != nil {
		return nil, err
	}
	hdr := &pb.Header{}
	if err := proto.Unmarshal(blk.GetHeader(), hdr); err != nil {
		return nil, fmt.Errorf("decode header %d: %w", b, err)
	}
	return hdr, nil
}

// maxAttestProbes bounds the headers attestingBlock reads: a doubling
// search then a bisection over at most 2^64 heights.
const maxAttestProbes = 2 * 64

// attestingBlock returns the lowest committed block whose header attests
// the state after h (state_height h), for 1 <= h <= hr.attested.
//
// state_height never decreases along the chain (each block's ancestry
// contains its parent's) and is at most height-2, so the headers attesting
// h, if any, are consecutive from the first block whose state_height is
// at least h. It is found by doubling steps up from h+2, then bisection:
// O(log(b-h)) headers read, usually one (a chain without view changes
// attests h at h+2). When that block attests more than h, no header
// attests h: the refusal names the attested heights around it.
func (s *Server) attestingBlock(h uint64, hr heightRange) (uint64, error) {
	probes := 0
	seen := map[uint64]uint64{}
	stateHeight := func(b uint64) (uint64, error) {
		if sh, ok := seen[b]; ok {
			return sh, nil
		}
		if probes++; probes > maxAttestProbes {
			return 0, fmt.Errorf("no block attesting height %d found within %d headers: state heights do not grow along the chain", h, maxAttestProbes)
		}
		hdr, err := s.header(b)
		if err != nil {
			return 0, err
		}
		seen[b] = hdr.GetStateHeight()
		return hdr.GetStateHeight(), nil
	}
	// Invariant: block lo attests below h (block h+1 at most h-1), block
	// hi at least h (the head attests hr.attested >= h).
	lo, hi, step := h+1, hr.head, uint64(1)
	for lo+1 < hi {
		b := lo + step
		if b >= hi || b < lo {
			break
		}
		sh, err := stateHeight(b)
		if err != nil {
			return 0, err
		}
		if sh >= h {
			hi = b
			break
		}
		lo, step = b, step*2
	}
	for lo+1 < hi {
		mid := lo + (hi-lo)/2
		sh, err := stateHeight(mid)
		if err != nil {
			return 0, err
		}
		if sh >= h {
			hi = mid
		} else {
			lo = mid
		}
	}
	above, err := stateHeight(hi)
	if err != nil {
		return 0, err
	}
	if above == h {
		return hi, nil
	}
	below, err := stateHeight(lo)
	if err != nil {
		return 0, err
	}
	return 0, connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf(
		"no committed header attests the state at height %d, so it cannot be proven: the attested state heights go from %d (block %d's header) to %d (block %d's), "+
			"as after a view change; ask for height %d or %d, or without a proof", h, below, lo, above, hi, below, above))
}

// proofAtHeight proves key in the state after h (a height pastHeight
// accepted) against the lowest committed header attesting h. Its errors
// are the API's.
func (s *Server) proofAtHeight(h uint64, hr heightRange, key []byte) (*pb.StateProof, error) {
	b, err := s.attestingBlock(h, hr)
	if err != nil {
		if connect.CodeOf(err) == connect.CodeUnknown {
			return nil, internal(err)
		}
		return nil, err
	}
	resp, err := s.blockResponse(b)
	if err != nil {
		return nil, internal(err)
	}
	sp, err := s.proveUnder(resp, key)
	switch {
	case errors.Is(err, errStateNotHeld):
		return nil, notHeld(h, hr)
	case err != nil:
		return nil, internal(err)
	}
	return sp, nil
}

// recordVersionsAt returns versions 1..rec.version of a record as read in
// r, the state at a past height: versions are numbered without gaps and
// never rewritten (exec putVersion), so these are exactly the versions
// that existed then.
func recordVersionsAt(r exec.Reader, rec *pb.Record) ([]*pb.RecordVersion, error) {
	out := make([]*pb.RecordVersion, 0, rec.GetVersion())
	for v := uint64(1); v <= rec.GetVersion(); v++ {
		rv, err := exec.RecordVersion(r, rec.GetId(), v)
		if err != nil {
			return nil, fmt.Errorf("version %d of record %s: %w", v, rec.GetId(), err)
		}
		out = append(out, rv)
	}
	return out, nil
}

// credentialsAt returns the credentials of subject as they were in r, the
// state at a past height: the credential index of the newest state lists
// every credential ever issued to the subject (it is only ever added to,
// exec issueCredential), and each is read as it was at that height,
// skipped if it did not exist yet.
func (s *Server) credentialsAt(r exec.Reader, subject string) ([]*pb.Credential, error) {
	now, err := exec.Credentials(s.d.State, subject)
	if err != nil {
		return nil, err
	}
	out := make([]*pb.Credential, 0, len(now))
	for _, c := range now {
		then, err := exec.Credential(r, c.GetId())
		if errors.Is(err, exec.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, then)
	}
	return out, nil
}
