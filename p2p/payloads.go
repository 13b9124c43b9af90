package p2p

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// MaxPayloadsPerRequest caps the commitments in one payloads request
// (SyncRequest.payloads): the server refuses more, the client never sends
// more.
const MaxPayloadsPerRequest = 64

// PayloadSource serves protected payloads, the content of protected record
// versions kept beside the chain by member nodes (ARCHITECTURE.md §5,
// "Erasing personal data"). The node installs its payload store with
// WithPayloadSource. Implementations are safe for concurrent use; returned
// values are not modified by p2p and must not be modified by the source
// afterwards.
type PayloadSource interface {
	// Payloads returns the payloads it holds for commitments (each 32
	// bytes, crypto.PayloadCommitment), in the order asked, leaving out
	// those it lacks: never held, or erased.
	Payloads(commitments [][]byte) []*pb.Payload
}

// isMember reports whether p is a member in force: the node of a
// department in the validator set of the last SetMembership (Config.Members
// before the first). Observers, static or governed, are not members.
func (n *Host) isMember(p peer.ID) bool {
	n.memberMu.Lock()
	members := n.members // replaced whole by SetMembership, never modified
	n.memberMu.Unlock()
	return slices.ContainsFunc(members, func(m Member) bool { return m.PeerID == p })
}

// errNotMember refuses a payloads request from a peer that is not a member.
var errNotMember = fmt.Errorf("%w: protected payloads are served to member nodes only", errRefused)

// servePayloads answers a payloads request of peer from: only a member in
// force is answered (an observer, or a department's node removed since, is
// refused before anything is read), with what the source holds of at most
// MaxPayloadsPerRequest well-formed commitments, filled up to
// MaxResponseBytes; the client asks again for what the answer leaves out.
func (s *syncService) servePayloads(from peer.ID, r *pb.PayloadsRequest) (*pb.SyncResponse, error) {
	if !s.n.isMember(from) {
		return nil, errNotMember
	}
	if s.payloads == nil {
		return nil, fmt.Errorf("%w: this node serves no payloads", errRefused)
	}
	cs := r.GetCommitments()
	if len(cs) == 0 {
		return nil, fmt.Errorf("%w: no commitments", errRefused)
	}
	if len(cs) > MaxPayloadsPerRequest {
		return nil, fmt.Errorf("%w: %d commitments, at most %d", errRefused, len(cs), MaxPayloadsPerRequest)
	}
	for i, c := range cs {
		if len(c) != crypto.HashSize {
			return nil, fmt.Errorf("%w: commitment %d is %d bytes, want %d", errRefused, i, len(c), crypto.HashSize)
		}
	}
	held := s.payloads.Payloads(cs)
	out := &pb.PayloadsResponse{}
	budget := s.n.cfg.MaxResponseBytes
	for _, p := range held {
		cost := protowire.SizeTag(1) + protowire.SizeBytes(proto.Size(p))
		if cost > budget {
			break
		}
		budget -= cost
		out.Payloads = append(out.Payloads, p)
	}
	if len(out.Payloads) == 0 && len(held) > 0 {
		return nil, fmt.Errorf("%w: one payload alone exceeds the %d-byte response limit", errRefused, s.n.cfg.MaxResponseBytes)
	}
	return &pb.SyncResponse{Resp: &pb.SyncResponse_Payloads{Payloads: out}}, nil
}

// RequestPayloads asks p for the protected payloads of commitments (at most
// MaxPayloadsPerRequest, each 32 bytes, no duplicates). Only member nodes
// answer: any other peer, or a member asked by a node that is not a member
// in its view, answers with a RemoteError.
//
// The answer is keyed by position: it has len(commitments) entries, and
// entry i is the payload of commitments[i], or nil when p does not hold it
// (never had it, erased it, or left it out to stay within its response
// limit: ask again for the nils). Every payload p sends is checked with
// crypto.CheckPayload against the requested commitments; one that opens
// none of them, or one sent twice, makes the whole answer ErrBadResponse
// (the node should count it against p and try another peer).
func (n *Host) RequestPayloads(ctx context.Context, p peer.ID, commitments [][]byte) ([]*pb.Payload, error) {
	if len(commitments) == 0 {
		return nil, errors.New("p2p: no payload commitments to request")
	}
	if len(commitments) > MaxPayloadsPerRequest {
		return nil, fmt.Errorf("p2p: %d payload commitments in one request, at most %d", len(commitments), MaxPayloadsPerRequest)
	}
	pos := make(map[string]int, len(commitments))
	for i, c := range commitments {
		if len(c) != crypto.HashSize {
			return nil, fmt.Errorf("p2p: payload commitment %d is %d bytes, want %d", i, len(c), crypto.HashSize)
		}
		if _, dup := pos[string(c)]; dup {
			return nil, fmt.Errorf("p2p: payload commitment %d asked twice", i)
		}
		pos[string(c)] = i
	}
	resp, err := n.sync.roundTrip(ctx, p, &pb.SyncRequest{Req: &pb.SyncRequest_Payloads{Payloads: &pb.PayloadsRequest{Commitments: commitments}}})
	if err != nil {
		return nil, err
	}
	bad := func(format string, args ...any) ([]*pb.Payload, error) {
		n.counters.syncClientErrors.Add(1)
		return nil, fmt.Errorf("%w: payloads from %s: %s", ErrBadResponse, p, fmt.Sprintf(format, args...))
	}
	pr, ok := resp.GetResp().(*pb.SyncResponse_Payloads)
	if !ok {
		return bad("%T to a payloads request", resp.GetResp())
	}
	got := pr.Payloads.GetPayloads()
	if len(got) > len(commitments) {
		return bad("%d payloads for %d commitments", len(got), len(commitments))
	}
	out := make([]*pb.Payload, len(commitments))
	for j, pl := range got {
		if len(pl.GetSalt()) != crypto.PayloadSaltSize {
			return bad("payload %d has a %d-byte salt", j, len(pl.GetSalt()))
		}
		c := n.cfg.Suite.PayloadCommitment(pl.GetSalt(), pl.GetContent())
		i, asked := pos[string(c)]
		if !asked {
			return bad("payload %d opens none of the commitments asked", j)
		}
		// CheckPayload is the one definition of "opens": the lookup above
		// only finds which commitment to check it against.
		if err := n.cfg.Suite.CheckPayload(commitments[i], pl.GetSalt(), pl.GetContent()); err != nil {
			return bad("payload %d: %v", j, err)
		}
		if out[i] != nil {
			return bad("payload %d sent twice", j)
		}
		out[i] = pl
	}
	return out, nil
}
