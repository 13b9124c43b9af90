package api

import (
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/ledger/lightclient"
	"github.com/govnode/govnode/ledger/state"
	"github.com/govnode/govnode/ledger/store"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// bundleLedger is a ledger of blocks 1..n whose headers attest
// stateHeights[b], and a state whose keys hold the same value at every
// height (what GetRecordBundle reads; the proofs are empty, this checks
// the assembly and its refusals, not the proofs: the light client's tests
// verify real bundles).
type bundleLedger struct {
	Ledger
	stateHeights []uint64 // by block; [0] unused
	values       map[string][]byte
	read         int // bytes of values read
}

func (l *bundleLedger) Height() (uint64, bool) { return uint64(len(l.stateHeights) - 1), true }

func (l *bundleLedger) BlockByHeight(h uint64) ([32]byte, []byte, error) {
	if h == 0 || h >= uint64(len(l.stateHeights)) {
		return [32]byte{}, nil, store.ErrNotFound
	}
	hdr, _ := proto.Marshal(&pb.Header{ChainId: "c", Height: h, StateHeight: l.stateHeights[h]})
	b, _ := proto.Marshal(&pb.Block{Header: hdr})
	return [32]byte{}, b, nil
}

func (l *bundleLedger) CommitCert(h uint64) ([]byte, error) {
	return proto.Marshal(&pb.CommitCert{Height: h})
}

func (l *bundleLedger) GetWithProof(h uint64, key []byte) ([]byte, *state.Proof, error) {
	v, ok := l.values[string(key)]
	if !ok {
		return nil, &state.Proof{}, store.ErrNotFound
	}
	l.read += len(v)
	return v, &state.Proof{}, nil
}

// noState is a state without validator-set changes.
type noState struct{}

func (noState) Get([]byte) ([]byte, error)                           { return nil, store.ErrNotFound }
func (noState) Iterate(_, _ []byte, _ func(k, v []byte) error) error { return nil }

// bundleServer serves a record "r1" of len(versionHeights) versions, each
// written at its height, and count access entries, over a chain whose block
// b attests state b-2, except that no header attests state 5 (a view change
// committed blocks 5 and 6 together).
func bundleServer(versionHeights []uint64, count uint64) *Server {
	l := &bundleLedger{stateHeights: []uint64{0}, values: map[string][]byte{}}
	for b := uint64(1); b <= 20; b++ {
		sh := uint64(0)
		if b > 2 {
			sh = b - 2
		}
		if sh == 5 {
			sh = 4
		}
		l.stateHeights = append(l.stateHeights, sh)
	}
	enc := func(m proto.Message) []byte { b, _ := proto.Marshal(m); return b }
	l.values[string(lightclient.RecordKey("r1"))] = enc(&pb.Record{Id: "r1", Version: uint64(len(versionHeights))})
	for i, h := range versionHeights {
		l.values[string(lightclient.RecordVersionKey("r1", uint64(i+1)))] = enc(&pb.RecordVersion{RecordId: "r1", Version: uint64(i + 1), Height: h})
	}
	if count > 0 {
		l.values[string(lightclient.AccessCountKey("r1"))] = binary.BigEndian.AppendUint64(nil, count)
		for seq := uint64(1); seq <= count && seq < 10; seq++ {
			l.values[string(lightclient.AccessEntryKey("r1", seq))] = enc(&pb.AccessEntry{RecordId: "r1", Seq: seq})
		}
	}
	return &Server{d: Deps{Ledger: l, State: noState{}, Genesis: &pb.GenesisDoc{ChainId: "c"}}}
}

func TestRecordBundleAssembly(t *testing.T) {
	ctx := context.Background()
	// Versions at 3, 5 (no header attests 5: proven at 6), 5 again, 9.
	s := bundleServer([]uint64{3, 5, 5, 9}, 2)
	b, err := s.RecordBundle(ctx, "r1", 0)
	if err != nil {
		t.Fatal(err)
	}
	if b.GetHeight() != 18 || b.GetFormat() != lightclient.Format || len(b.GetVersions()) != 4 || len(b.GetAccessEntries()) != 2 {
		t.Fatalf("bundle at %d: %d versions, %d entries", b.GetHeight(), len(b.GetVersions()), len(b.GetAccessEntries()))
	}
	attests := func(p *pb.BundleProof) uint64 { return attestsIn(t, b, p) }
	for i, want := range []uint64{3, 6, 6, 9} {
		if got := attests(b.GetVersions()[i]); got != want {
			t.Errorf("version %d proven at state %d, want %d", i+1, got, want)
		}
	}
	if b.GetVersions()[1].GetAnchor() != b.GetVersions()[2].GetAnchor() {
		t.Error("versions written at one height have two anchors")
	}
	if attests(b.GetRecord()) != 18 || attests(b.GetAccessCount()) != 18 || b.GetRecord().GetAnchor() != b.GetAccessEntries()[1].GetAnchor() {
		t.Error("record, counter and entries are not proven under the anchor of the bundle's height")
	}
	if len(b.GetAnchors()) != 4 {
		t.Errorf("%d anchors, want 4 (states 3, 6, 9, 18)", len(b.GetAnchors()))
	}

	// At a past height: the history up to it.
	past, err := s.RecordBundle(ctx, "r1", 9)
	if err != nil || past.GetHeight() != 9 || attestsIn(t, past, past.GetRecord()) != 9 || attestsIn(t, past, past.GetVersions()[3]) != 9 {
		t.Errorf("at height 9: %v", err)
	}
}

// attestsIn is the state height of the header p is proven under.
func attestsIn(t *testing.T, b *pb.ProofBundle, p *pb.BundleProof) uint64 {
	t.Helper()
	h := &pb.Header{}
	if err := proto.Unmarshal(b.GetAnchors()[p.GetAnchor()].GetHeader(), h); err != nil {
		t.Fatal(err)
	}
	return h.GetStateHeight()
}

func TestRecordBundleRefusals(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		s      *Server
		id     string
		height uint64
		code   connect.Code
		msg    string
	}{
		{"bad id", bundleServer([]uint64{3}, 0), "r/1", 0, connect.CodeInvalidArgument, "record_id"},
		{"empty id", bundleServer([]uint64{3}, 0), "", 0, connect.CodeInvalidArgument, "record_id is empty"},
		{"unknown record", bundleServer([]uint64{3}, 0), "r2", 0, connect.CodeNotFound, `record "r2" not found at height 18`},
		{"height not attested yet", bundleServer([]uint64{3}, 0), "r1", 19, connect.CodeInvalidArgument, "newest state a committed header attests is at height 18"},
		{"height no header attests", bundleServer([]uint64{3}, 0), "r1", 5, connect.CodeFailedPrecondition, "ask for height 6"},
		{"too many versions", bundleServer(make([]uint64, lightclient.MaxVersions+1), 0), "r1", 0, connect.CodeResourceExhausted, "lightclient.MaxVersions (4096)"},
		{"too many access entries", bundleServer([]uint64{3}, lightclient.MaxAccessEntries+1), "r1", 0, connect.CodeResourceExhausted, "lightclient.MaxAccessEntries (4096)"},
		{"no genesis", &Server{d: Deps{Ledger: &bundleLedger{stateHeights: []uint64{0, 0}}}}, "r1", 0, connect.CodeFailedPrecondition, "no genesis document"},
		{"nothing attested", &Server{d: Deps{Ledger: &bundleLedger{stateHeights: []uint64{0, 0}}, Genesis: &pb.GenesisDoc{}}}, "r1", 0, connect.CodeFailedPrecondition, "no committed header attests a state"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.s.GetRecordBundle(ctx, connect.NewRequest(&pb.GetRecordBundleRequest{RecordId: tc.id, Height: tc.height}))
			if connect.CodeOf(err) != tc.code || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err %v, want %v with %q", err, tc.code, tc.msg)
			}
		})
	}
	// A request whose context ended stops.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := bundleServer([]uint64{3, 9}, 0).RecordBundle(cctx, "r1", 0); connect.CodeOf(err) != connect.CodeCanceled {
		t.Errorf("cancelled: %v", err)
	}
}

// A record whose versions hold more content than a bundle can is refused
// ResourceExhausted as soon as the bundle passes MaxBundleBytes, not after
// every version was read and proven (64 versions of 1 MiB read 128 MiB).
func TestRecordBundleRefusedAsItGrows(t *testing.T) {
	heights := make([]uint64, 64)
	for i := range heights {
		heights[i] = 3
	}
	s := bundleServer(heights, 0)
	l := s.d.Ledger.(*bundleLedger)
	content := make([]byte, 1<<20)
	for v := uint64(1); v <= 64; v++ {
		l.values[string(lightclient.RecordVersionKey("r1", v))], _ = proto.Marshal(&pb.RecordVersion{RecordId: "r1", Version: v, Height: 3, Content: content})
	}
	_, err := s.RecordBundle(context.Background(), "r1", 0)
	if connect.CodeOf(err) != connect.CodeResourceExhausted || !strings.Contains(err.Error(), "lightclient.MaxBundleBytes") {
		t.Fatalf("err %v, want ResourceExhausted naming MaxBundleBytes", err)
	}
	if l.read > 2*lightclient.MaxBundleBytes+4<<20 {
		t.Errorf("%d bytes read before the refusal; the bundle's limit is %d", l.read, lightclient.MaxBundleBytes)
	}
}

// Past MaxConcurrentBundles builds at once a bundle is refused
// ResourceExhausted with a retry delay, before any state is read; a freed
// slot lets the next one run.
func TestRecordBundleConcurrencyCap(t *testing.T) {
	s := &Server{d: Deps{Ledger: &bundleLedger{stateHeights: []uint64{0, 0}}, Genesis: &pb.GenesisDoc{}},
		bundles: make(chan struct{}, MaxConcurrentBundles)}
	for range MaxConcurrentBundles {
		s.bundles <- struct{}{}
	}
	_, err := s.RecordBundle(context.Background(), "r1", 0)
	if connect.CodeOf(err) != connect.CodeResourceExhausted || !strings.Contains(err.Error(), "retry") {
		t.Fatalf("bundle past the cap: %v", err)
	}
	var ce *connect.Error
	if !errors.As(err, &ce) || len(ce.Details()) != 1 {
		t.Fatalf("no retry detail: %v", err)
	}
	<-s.bundles
	if _, err := s.RecordBundle(context.Background(), "r1", 0); connect.CodeOf(err) != connect.CodeFailedPrecondition {
		t.Fatalf("with a free slot: %v, want the chain's own refusal (nothing attested)", err)
	}
	if len(s.bundles) != MaxConcurrentBundles-1 {
		t.Fatalf("%d slots held after the build, want %d", len(s.bundles), MaxConcurrentBundles-1)
	}
}
