package p2p_test

import (
	"context"
	cryptorand "crypto/rand"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/p2p"
	"github.com/govnode/govnode/p2p/p2ptest"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// warnings counts the log records at Warn and above whose message holds a
// text.
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (w *warnings) Handle(_ context.Context, r slog.Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, r.Message)
	return nil
}
func (w *warnings) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *warnings) WithGroup(string) slog.Handler      { return w }

func (w *warnings) count(text string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, m := range w.msgs {
		if strings.Contains(m, text) {
			n++
		}
	}
	return n
}

const notAdmitted = "validator node not admitted"

// boundMembers gives nw's members departments, SM2 consensus keys and
// their peer bindings on an sm2-sm3 chain.
func boundMembers(t *testing.T, nw *p2ptest.Network, keys []crypto.PrivateKey, which ...int) []p2p.Member {
	t.Helper()
	ms := nw.Members(which...)
	for pos, i := range which {
		ms[pos].DepartmentID = deptOf(i)
		ms[pos].ConsensusKey = keys[i].Public()
		b, err := crypto.BindPeer(keys[i], p2ptest.ChainID, deptOf(i), ms[pos].PeerID.String())
		if err != nil {
			t.Fatal(err)
		}
		ms[pos].PeerBinding = b
	}
	return ms
}

func deptOf(i int) string { return "d" + string(rune('0'+i)) }

// On an sm2-sm3 chain the gater admits a validator's node only when its
// department's SM2 key bound its peer id; the member left out is not
// dialed and is warned of once, however often the membership is set.
func TestSM2MemberAdmittedOnlyWhenBound(t *testing.T) {
	nw := p2ptest.NewNetwork(t, 3, 31)
	keys := make([]crypto.PrivateKey, 3)
	for i := range keys {
		k, err := crypto.GenerateKey(pb.KeyScheme_KEY_SCHEME_SM2, cryptorand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		keys[i] = k
	}
	ids := func(is ...int) []peer.ID {
		var out []peer.ID
		for _, i := range is {
			out = append(out, nw.Validators[i].PeerID)
		}
		return sorted(out...)
	}
	cfg := nw.Config(0)
	cfg.Suite = crypto.SM2SM3
	cfg.Members = boundMembers(t, nw, keys, 0, 1, 2)
	cfg.Members[2].PeerBinding = nil // missing
	w := &warnings{}
	n0 := nw.Start(0, cfg, p2p.WithLogger(slog.New(w)))
	if got := p2p.AllowedPeers(n0); !slices.Equal(got, ids(0, 1)) {
		t.Fatalf("allowed %v, want members 0 and 1 only", got)
	}
	if _, ok := peerInfo(n0, nw.Validators[2].PeerID); ok {
		t.Fatal("the unbound member is tracked (dialed)")
	}
	if c := w.count(notAdmitted); c != 1 {
		t.Fatalf("%d warnings of the unbound member, want 1", c)
	}

	// The same membership again: still left out, not warned of again.
	ms := boundMembers(t, nw, keys, 0, 1, 2)
	ms[2].PeerBinding = nil
	if err := n0.SetMembership(ms, nil); err != nil {
		t.Fatal(err)
	}
	if c := w.count(notAdmitted); c != 1 {
		t.Fatalf("%d warnings after the same membership, want 1", c)
	}

	// Bound: admitted and tracked.
	if err := n0.SetMembership(boundMembers(t, nw, keys, 0, 1, 2), nil); err != nil {
		t.Fatal(err)
	}
	if got := p2p.AllowedPeers(n0); !slices.Equal(got, ids(0, 1, 2)) {
		t.Fatalf("allowed %v, want all three", got)
	}
	if pi, ok := peerInfo(n0, nw.Validators[2].PeerID); !ok || !pi.Member {
		t.Fatalf("the bound member's PeerInfo: %+v (tracked %v)", pi, ok)
	}

	// Bad bindings: by another department's key, of another department,
	// of another peer id, and an Ed25519 key in place of the SM2 one.
	for name, spoil := range map[string]func(m *p2p.Member){
		"another key": func(m *p2p.Member) {
			m.PeerBinding, _ = crypto.BindPeer(keys[0], p2ptest.ChainID, m.DepartmentID, m.PeerID.String())
		},
		"another department": func(m *p2p.Member) { m.DepartmentID = "d9" },
		"another peer": func(m *p2p.Member) {
			m.PeerBinding, _ = crypto.BindPeer(keys[1], p2ptest.ChainID, m.DepartmentID, nw.Validators[0].PeerID.String())
		},
		"ed25519 key": func(m *p2p.Member) {
			m.ConsensusKey = nw.Validators[1].ValKey.Public()
			m.PeerBinding, _ = crypto.BindPeer(nw.Validators[1].ValKey, p2ptest.ChainID, m.DepartmentID, m.PeerID.String())
		},
	} {
		before := w.count(notAdmitted)
		ms := boundMembers(t, nw, keys, 0, 1, 2)
		spoil(&ms[1])
		if err := n0.SetMembership(ms, nil); err != nil {
			t.Fatal(err)
		}
		if got := p2p.AllowedPeers(n0); !slices.Equal(got, ids(0, 2)) {
			t.Fatalf("%s: allowed %v, want members 0 and 2", name, got)
		}
		if c := w.count(notAdmitted); c != before+1 {
			t.Fatalf("%s: %d new warnings, want 1", name, c-before)
		}
	}
}

// On an ed25519-sha256 chain members carry no binding and are admitted by
// peer id; one that carries a binding is not admitted.
func TestEd25519MemberWithBindingNotAdmitted(t *testing.T) {
	nw := p2ptest.NewNetwork(t, 3, 32)
	cfg := nw.Config(0)
	cfg.Members[1].PeerBinding = []byte{1, 2, 3}
	w := &warnings{}
	n0 := nw.Start(0, cfg, p2p.WithLogger(slog.New(w)))
	want := sorted(nw.Validators[0].PeerID, nw.Validators[2].PeerID)
	if got := p2p.AllowedPeers(n0); !slices.Equal(got, want) {
		t.Fatalf("allowed %v, want %v", got, want)
	}
	if c := w.count(notAdmitted); c != 1 {
		t.Fatalf("%d warnings, want 1", c)
	}
}

// MembersOf carries each validator's department, key and binding, which
// the host checks.
func TestMembersOfCarriesBindings(t *testing.T) {
	nw := p2ptest.NewNetwork(t, 2, 33)
	vs := &pb.ValidatorSet{}
	for i, id := range nw.Validators {
		vs.Validators = append(vs.Validators, &pb.Department{Id: deptOf(i), ConsensusKey: id.ValKey.Public(), PeerId: id.PeerID.String(),
			PeerBinding: []byte{byte(i + 1)}})
	}
	ms, err := p2p.MembersOf(vs)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range ms {
		v := vs.Validators[i]
		if m.DepartmentID != v.Id || !crypto.PublicKeyEqual(m.ConsensusKey, v.ConsensusKey) || !slices.Equal(m.PeerBinding, v.PeerBinding) {
			t.Fatalf("member %d: %+v, from %v", i, m, v)
		}
	}
}
