package home

import (
	"errors"
	"log/slog"
	"math"
	"testing"

	"github.com/govnode/govnode/consensus"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

type fakeSafetyStore struct {
	st    consensus.SafetyState
	err   error
	saved []consensus.SafetyState
}

func (f *fakeSafetyStore) Load() (consensus.SafetyState, error) { return f.st, f.err }
func (f *fakeSafetyStore) Save(st consensus.SafetyState) error {
	f.saved = append(f.saved, st)
	return nil
}

// recoveringSafety fills in a missing state with the floor, the state of a
// replica that timed out in the floor view, and leaves any saved state as
// it is.
func TestRecoveringSafetyLoad(t *testing.T) {
	saved := consensus.SafetyState{View: 9, LastVotedView: 9, LastVotedHeight: 40, HighQC: &pb.QuorumCert{View: 9, Height: 40}}
	errDisk, errPeers := errors.New("disk"), errors.New("no peers")
	cases := []struct {
		name       string
		inner      consensus.SafetyState
		innerErr   error
		floor      uint64
		floorErr   error
		want       consensus.SafetyState
		wantErr    error
		wantFloorQ bool // the floor was asked for
	}{
		{name: "missing state gets the floor", floor: 7, wantFloorQ: true,
			want: consensus.SafetyState{View: 7, LastVotedView: 7, LastVotedHeight: math.MaxUint64}},
		{name: "floor 0 still refuses every vote in view 0", floor: 0, wantFloorQ: true,
			want: consensus.SafetyState{LastVotedHeight: math.MaxUint64}},
		{name: "a saved state is kept", inner: saved, floor: 100, want: saved},
		{name: "a view alone is a saved state", inner: consensus.SafetyState{View: 3}, floor: 100, want: consensus.SafetyState{View: 3}},
		{name: "load error", innerErr: errDisk, wantErr: errDisk},
		{name: "floor error", floorErr: errPeers, wantErr: errPeers, wantFloorQ: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			asked := false
			inner := &fakeSafetyStore{st: tc.inner, err: tc.innerErr}
			r := &RecoveringSafety{Inner: inner, Log: slog.New(slog.DiscardHandler),
				Floor: func() (uint64, error) { asked = true; return tc.floor, tc.floorErr }}
			got, err := r.Load()
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Load error %v, want %v", err, tc.wantErr)
			}
			if asked != tc.wantFloorQ {
				t.Fatalf("floor asked %v, want %v", asked, tc.wantFloorQ)
			}
			if err != nil {
				return
			}
			if got.View != tc.want.View || got.LastVotedView != tc.want.LastVotedView || got.LastVotedHeight != tc.want.LastVotedHeight ||
				got.HighQC.GetHeight() != tc.want.HighQC.GetHeight() {
				t.Fatalf("Load = %+v, want %+v", got, tc.want)
			}
			if err := r.Save(got); err != nil || len(inner.saved) != 1 {
				t.Fatalf("Save did not reach the file store: %v", err)
			}
		})
	}
}
