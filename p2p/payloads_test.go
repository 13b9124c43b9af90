package p2p_test

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/p2p"
	"github.com/govnode/govnode/p2p/p2ptest"
	"github.com/govnode/govnode/p2p/wire"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// payloadSource is an in-memory PayloadSource. answer, when set, replaces
// the honest answer: a lying peer.
type payloadSource struct {
	mu     sync.Mutex
	held   map[string]*pb.Payload
	asked  int
	answer func(commitments [][]byte) []*pb.Payload
}

func newPayloadSource() *payloadSource { return &payloadSource{held: map[string]*pb.Payload{}} }

// add holds a payload of content and returns its commitment.
func (s *payloadSource) add(t *testing.T, content []byte) ([]byte, *pb.Payload) {
	t.Helper()
	salt, err := crypto.NewPayloadSalt()
	if err != nil {
		t.Fatal(err)
	}
	p := &pb.Payload{Salt: salt, Content: content}
	c := crypto.Ed25519SHA256.PayloadCommitment(salt, content)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.held[string(c)] = p
	return c, p
}

func (s *payloadSource) Payloads(commitments [][]byte) []*pb.Payload {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.asked++
	if s.answer != nil {
		return s.answer(commitments)
	}
	var out []*pb.Payload
	for _, c := range commitments {
		if p, ok := s.held[string(c)]; ok {
			out = append(out, p)
		}
	}
	return out
}

func (s *payloadSource) setAnswer(f func([][]byte) []*pb.Payload) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answer = f
}

func (s *payloadSource) timesAsked() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.asked
}

// ARCHITECTURE.md §5 "Erasing personal data": a member in force gets the
// payloads the server holds, keyed by position; a node that governance
// made an observer is refused before the source is read, and the refusal
// is counted.
func TestPayloadsServedToMembersOnly(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	nw := p2ptest.NewNetwork(t, 3, 31)
	src := newPayloadSource()
	c0, p0 := src.add(t, []byte("birth certificate of A"))
	c1, p1 := src.add(t, []byte("birth certificate of B"))
	unknown := crypto.Ed25519SHA256.Hash([]byte("never stored"))
	server := nw.Start(0, nw.Config(0), p2p.WithPayloadSource(src), p2p.WithBlockSource(p2ptest.NewBlocks(t, 3, 10)))
	member := nw.Start(1, nw.Config(1))
	other := nw.Start(2, nw.Config(2))
	nw.WaitConnected(10 * time.Second)

	got, err := member.RequestPayloads(ctx, server.ID(), [][]byte{c1, unknown, c0})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || !proto.Equal(got[0], p1) || got[1] != nil || !proto.Equal(got[2], p0) {
		t.Fatalf("answer %v, want [p1 nil p0]", got)
	}
	// Nothing held: an answer of nils, not an error.
	got, err = member.RequestPayloads(ctx, server.ID(), [][]byte{unknown})
	if err != nil || len(got) != 1 || got[0] != nil {
		t.Fatalf("unknown only: %v, %v", got, err)
	}
	if got, err := other.RequestPayloads(ctx, server.ID(), [][]byte{c0}); err != nil || !proto.Equal(got[0], p0) {
		t.Fatalf("member 2: %v, %v", got, err)
	}

	// Governance removes department 2 and lists its node as an observer:
	// still admitted, no longer served.
	if err := server.SetMembership(nw.Members(0, 1), []peer.ID{other.ID()}); err != nil {
		t.Fatal(err)
	}
	p2ptest.Eventually(t, 5*time.Second, "the observer connected", func() bool { return p2ptest.Connected(server, other.ID()) })
	refused, asked := server.Stats().SyncRefused, src.timesAsked()
	_, err = other.RequestPayloads(ctx, server.ID(), [][]byte{c0})
	var re *p2p.RemoteError
	if !errors.As(err, &re) || !strings.Contains(re.Message, "member nodes only") {
		t.Fatalf("observer: err = %v, want a refusal naming member nodes", err)
	}
	if server.Stats().SyncRefused != refused+1 {
		t.Fatal("the observer's refusal was not counted")
	}
	if src.timesAsked() != asked {
		t.Fatal("the source was read for an observer")
	}
	// The observer still gets block sync: only payloads are for members.
	if st, err := other.RequestStatus(ctx, server.ID()); err != nil || st.GetHeight() != 3 {
		t.Fatalf("observer's status request: %v, %v", st, err)
	}
	// And the remaining member is still served.
	if got, err := member.RequestPayloads(ctx, server.ID(), [][]byte{c0}); err != nil || !proto.Equal(got[0], p0) {
		t.Fatalf("member after the change: %v, %v", got, err)
	}
	// A node without a payload source refuses members too.
	if _, err := server.RequestPayloads(ctx, member.ID(), [][]byte{c0}); !errors.As(err, &re) || !strings.Contains(re.Message, "serves no payloads") {
		t.Fatalf("no source: err = %v", err)
	}
}

// ARCHITECTURE.md §7 ("every bad input gets a clear error and changes
// nothing"): a member's malformed payloads requests (too many commitments,
// a commitment of the wrong size, none) are refused with a SyncError and
// counted; the client refuses to send them at all; the answer stays within
// the response budget, and a payload alone over it is refused.
func TestPayloadsRefusesBadRequests(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	nw := p2ptest.NewNetwork(t, 3, 32)
	src := newPayloadSource()
	var cs [][]byte
	for i := range 4 {
		c, _ := src.add(t, bytes.Repeat([]byte{byte('a' + i)}, 3000))
		cs = append(cs, c)
	}
	cfg0 := nw.Config(0)
	cfg0.MaxResponseBytes = 7000 // two of the 3000-byte payloads
	server := nw.Start(0, cfg0, p2p.WithPayloadSource(src))
	client := nw.Start(1, nw.Config(1))
	nw.WaitConnected(10 * time.Second)

	// The budget: the first two, the client asks again for the rest.
	got, err := client.RequestPayloads(ctx, server.ID(), cs)
	if err != nil {
		t.Fatal(err)
	}
	if got[0] == nil || got[1] == nil || got[2] != nil || got[3] != nil {
		t.Fatalf("budgeted answer: %v", got)
	}
	if got, err = client.RequestPayloads(ctx, server.ID(), cs[2:]); err != nil || got[0] == nil || got[1] == nil {
		t.Fatalf("second request: %v, %v", got, err)
	}

	// Raw requests from member 2's key, which the server admits and serves.
	raw := rawHost(t, nw.Validators[2], p2ptest.TCP)
	if err := raw.Connect(ctx, peer.AddrInfo{ID: server.ID(), Addrs: server.Addrs()}); err != nil {
		t.Fatal(err)
	}
	big, _ := src.add(t, bytes.Repeat([]byte{'z'}, 8000))
	tooMany := make([][]byte, p2p.MaxPayloadsPerRequest+1)
	for i := range tooMany {
		tooMany[i] = crypto.Ed25519SHA256.Hash([]byte{byte(i)})
	}
	for _, tt := range []struct {
		name        string
		commitments [][]byte
		wantSub     string
	}{
		{"too many commitments", tooMany, "65 commitments, at most 64"},
		{"short commitment", [][]byte{cs[0], {1, 2, 3}}, "commitment 1 is 3 bytes"},
		{"long commitment", [][]byte{append(bytes.Clone(cs[0]), 0)}, "commitment 0 is 33 bytes"},
		{"no commitments", nil, "no commitments"},
		{"one payload over the response limit", [][]byte{big}, "exceeds the 7000-byte response limit"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := server.Stats().SyncRefused
			s, err := raw.NewStream(ctx, server.ID(), p2p.SyncProtocol(p2ptest.ChainID))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			_ = s.SetDeadline(time.Now().Add(10 * time.Second))
			req := &pb.SyncRequest{Req: &pb.SyncRequest_Payloads{Payloads: &pb.PayloadsRequest{Commitments: tt.commitments}}}
			if err := wire.WriteMsg(s, req, 1<<20); err != nil {
				t.Fatal(err)
			}
			_ = s.CloseWrite()
			var resp pb.SyncResponse
			if err := wire.ReadMsg(wire.NewReader(s), 1<<20, &resp); err != nil {
				t.Fatalf("no response: %v", err)
			}
			if msg := resp.GetError().GetMessage(); !strings.Contains(msg, tt.wantSub) {
				t.Fatalf("response %v, want a SyncError containing %q", &resp, tt.wantSub)
			}
			if server.Stats().SyncRefused != before+1 {
				t.Fatal("refusal not counted")
			}
		})
	}

	// The client checks its own requests before sending anything.
	served := server.Stats().SyncServed + server.Stats().SyncRefused
	for name, bad := range map[string][][]byte{
		"too many":  tooMany,
		"short":     {cs[0][:31]},
		"duplicate": {cs[0], cs[1], cs[0]},
		"none":      nil,
	} {
		if _, err := client.RequestPayloads(ctx, server.ID(), bad); err == nil {
			t.Errorf("%s: request accepted by the client", name)
		}
	}
	if server.Stats().SyncServed+server.Stats().SyncRefused != served {
		t.Fatal("a request the client should have refused reached the server")
	}
}

// A peer that answers with payloads that do not open the commitments asked
// (altered content, a payload nobody asked for, one sent twice, a bad
// salt) is caught by the client: ErrBadResponse, counted, nothing
// returned.
func TestRequestPayloadsRefusesForgedPayloads(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	nw := p2ptest.NewNetwork(t, 2, 33)
	src := newPayloadSource()
	c0, p0 := src.add(t, []byte("the real content"))
	_, pOther := src.add(t, []byte("another record's content"))
	server := nw.Start(0, nw.Config(0), p2p.WithPayloadSource(src))
	client := nw.Start(1, nw.Config(1))
	nw.WaitConnected(10 * time.Second)

	// Honest first: the test can tell a good answer from a forged one.
	if got, err := client.RequestPayloads(ctx, server.ID(), [][]byte{c0}); err != nil || !proto.Equal(got[0], p0) {
		t.Fatalf("honest answer: %v, %v", got, err)
	}
	altered := &pb.Payload{Salt: p0.GetSalt(), Content: []byte("the forged content")}
	for _, tt := range []struct {
		name   string
		answer []*pb.Payload
	}{
		{"altered content", []*pb.Payload{altered}},
		{"a payload not asked for", []*pb.Payload{pOther}},
		{"the right one twice", []*pb.Payload{p0, p0}},
		{"short salt", []*pb.Payload{{Salt: p0.GetSalt()[:16], Content: p0.GetContent()}}},
		{"the right one, then a forgery", []*pb.Payload{p0, altered}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src.setAnswer(func([][]byte) []*pb.Payload { return tt.answer })
			before := client.Stats().SyncClientErrors
			// Two asked, so a duplicate is within the count.
			got, err := client.RequestPayloads(ctx, server.ID(), [][]byte{c0, crypto.Ed25519SHA256.Hash([]byte("unknown"))})
			if !errors.Is(err, p2p.ErrBadResponse) || got != nil {
				t.Fatalf("got %v, err %v; want ErrBadResponse and nothing", got, err)
			}
			if client.Stats().SyncClientErrors <= before {
				t.Fatal("bad response not counted")
			}
		})
	}
}
