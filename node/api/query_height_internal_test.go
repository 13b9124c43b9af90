package api

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/state"
	"github.com/govnode/govnode/ledger/store"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// headerLedger is a ledger of blocks whose headers attest the given state
// heights (stateHeights[b] for block b >= 1), with a state tree holding
// versions from first on; it counts the blocks read.
type headerLedger struct {
	Ledger
	stateHeights []uint64
	first        uint64
	reads        int
}

func (l *headerLedger) Height() (uint64, bool) { return uint64(len(l.stateHeights) - 1), true }

func (l *headerLedger) BlockByHeight(h uint64) ([32]byte, []byte, error) {
	if h == 0 || h >= uint64(len(l.stateHeights)) {
		return [32]byte{}, nil, fmt.Errorf("block %d: %w", h, store.ErrNotFound)
	}
	l.reads++
	hdr, _ := proto.Marshal(&pb.Header{Height: h, StateHeight: l.stateHeights[h]})
	b, _ := proto.Marshal(&pb.Block{Header: hdr})
	return [32]byte{}, b, nil
}

func (l *headerLedger) StateRoot(h uint64) (state.Hash, error) {
	if h >= uint64(len(l.stateHeights)) {
		return state.Hash{}, store.ErrNotFound
	}
	return state.Hash{1}, nil
}

func (l *headerLedger) GetWithProof(h uint64, key []byte) ([]byte, *state.Proof, error) {
	if h < l.first {
		return nil, nil, fmt.Errorf("state: version %d: %w", h, store.ErrNotFound)
	}
	if string(key) == "present" {
		return []byte("v"), &state.Proof{}, nil
	}
	return nil, &state.Proof{}, nil
}

// chainOf is a ledger of n blocks, block b attesting sh(b).
func chainOf(n uint64, sh func(b uint64) uint64) *headerLedger {
	l := &headerLedger{stateHeights: make([]uint64, n+1)}
	for b := uint64(1); b <= n; b++ {
		l.stateHeights[b] = sh(b)
	}
	return l
}

// attestingBlock finds the lowest header attesting a height, reading few
// headers, and refuses a height that state heights skip, naming the
// attested heights around it.
func TestAttestingBlock(t *testing.T) {
	twoBelow := func(b uint64) uint64 { return max(b, 2) - 2 }
	for _, tc := range []struct {
		name string
		l    *headerLedger
		h    uint64
		want uint64 // 0: refused
		msg  string
		// maxReads bounds the headers read (the head's by pastHeight too).
		maxReads int
	}{
		{name: "steady chain", l: chainOf(1000, twoBelow), h: 500, want: 502, maxReads: 2},
		{name: "newest attested", l: chainOf(1000, twoBelow), h: 998, want: 1000, maxReads: 2},
		{name: "height 1", l: chainOf(1000, twoBelow), h: 1, want: 3, maxReads: 2},
		{
			// Headers lagging ever further: found by doubling then
			// bisection, not a scan of the 400 blocks between.
			name: "lagging chain", h: 400, want: 800, maxReads: 20,
			l: chainOf(1000, func(b uint64) uint64 { return b / 2 }),
		},
		{
			// A long stall: heights 100..900 attest 98, block 901 on 899.
			name: "stall then catch-up", h: 98, want: 100, maxReads: 3,
			l: chainOf(1000, func(b uint64) uint64 {
				if b >= 100 && b <= 900 {
					return 98
				}
				return twoBelow(b)
			}),
		},
		{
			name: "far above after a stall", h: 899, want: 901, maxReads: 2 * 12,
			l: chainOf(1000, func(b uint64) uint64 {
				if b >= 100 && b <= 900 {
					return 98
				}
				return twoBelow(b)
			}),
		},
		{
			// A view change: block 51 commits two ancestors at once, so
			// state heights go 48 (block 50) to 50 (block 51): 49 is never
			// attested.
			name: "skipped height", h: 49, maxReads: 4,
			msg: "no committed header attests the state at height 49, so it cannot be proven: the attested state heights go from 48 (block 50's header) to 50 (block 51's)",
			l: chainOf(1000, func(b uint64) uint64 {
				if b == 50 {
					return 48
				}
				if b > 50 {
					return b - 1
				}
				return twoBelow(b)
			}),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Server{d: Deps{Ledger: tc.l}}
			_, hr, err := s.pastHeight(tc.h)
			if err != nil {
				t.Fatal(err)
			}
			b, err := s.attestingBlock(tc.h, hr)
			if tc.want == 0 {
				if connect.CodeOf(err) != connect.CodeFailedPrecondition || !strings.Contains(err.Error(), tc.msg) {
					t.Fatalf("got block %d, %v; want FailedPrecondition %q", b, err, tc.msg)
				}
			} else if err != nil || b != tc.want {
				t.Fatalf("block %d, %v; want %d", b, err, tc.want)
			}
			if tc.l.reads > tc.maxReads {
				t.Errorf("read %d headers, at most %d expected", tc.l.reads, tc.maxReads)
			}
		})
	}
}

// pastHeight refuses heights above the newest attested state with the
// heights named, and a state the ledger no longer holds.
func TestPastHeightRefusals(t *testing.T) {
	l := chainOf(100, func(b uint64) uint64 { return max(b, 2) - 2 })
	l.first = 10
	s := &Server{d: Deps{Ledger: l}}
	for _, tc := range []struct {
		h    uint64
		code connect.Code
		msg  string
	}{
		{99, connect.CodeOutOfRange, "height 99 is not attested yet: the newest state a committed header attests is at height 98 (the chain is at 100)"},
		{100, connect.CodeOutOfRange, "not attested yet"},
		{101, connect.CodeOutOfRange, "height 101 is in the future: the chain is at height 100, and the newest state a committed header attests is at height 98"},
		{1<<64 - 1, connect.CodeOutOfRange, "in the future"},
	} {
		_, _, err := s.pastHeight(tc.h)
		if connect.CodeOf(err) != tc.code || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("height %d: %v; want %v %q", tc.h, err, tc.code, tc.msg)
		}
	}

	// A version the tree no longer holds: FailedPrecondition on the first
	// read, and on a proof.
	r, hr, err := s.pastHeight(5)
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Get([]byte("present"))
	if !errors.Is(err, errStateNotHeld) {
		t.Fatalf("read at a version not held: %v", err)
	}
	if err := pastErr("record", "x", 5, hr, err); connect.CodeOf(err) != connect.CodeFailedPrecondition ||
		!strings.Contains(err.Error(), "no longer holds the state at height 5") {
		t.Errorf("mapped: %v", err)
	}

	// A held version: present, absent.
	r, _, err = s.pastHeight(50)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := r.Get([]byte("present")); err != nil || string(v) != "v" {
		t.Errorf("present key: %q %v", v, err)
	}
	if _, err := r.Get([]byte("absent")); !errors.Is(err, exec.ErrNotFound) {
		t.Errorf("absent key: %v", err)
	}
	if err := r.Iterate([]byte("a"), []byte("b"), func(k, v []byte) error { return nil }); err == nil {
		t.Error("a range scan of a past version did not refuse")
	}

	// No block yet.
	empty := &Server{d: Deps{Ledger: chainOf(0, nil)}}
	if _, _, err := empty.pastHeight(1); connect.CodeOf(err) != connect.CodeFailedPrecondition {
		t.Errorf("height 1 of an empty chain: %v", err)
	}
}
