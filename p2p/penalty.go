package p2p

import (
	"math"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Penalties of the direct protocol, kept as gossipsub's invalid-message
// penalty (P4) was: each invalid frame a peer sends adds one to its count,
// the count decays by invalidMsgDecay per second, and the peer's score is
// invalidMsgWeight·count². Below graylistThreshold (three invalid frames
// in a short while) it is graylisted until the count has decayed (about
// two minutes after the last of three). A state-dependent refusal
// (ErrIgnore) costs nothing.
//
// A peer has two such scores (direct.go): its frame score, from broken
// frames and rejected consensus messages, which when graylisted refuses
// all its streams unread; and its tx score, from rejected tx batches,
// which when graylisted drops only its tx batches. A peer's txs thus never
// cost it its place in consensus: a tx refusal is the likelier to be a
// mistake (a tx judged against another height's state), and a validator
// shut out of consensus for two minutes costs the quorum.
const (
	graylistThreshold = -80
	invalidMsgWeight  = -10
	invalidMsgDecay   = 0.99 // per second: a half-life of about 70 s
	// penaltyForget drops a peer's count once it has decayed below it.
	penaltyForget = 0.01
)

type penalty struct {
	count float64
	at    time.Time
}

// penalties are the per-peer invalid-frame counts. A mutex guards them:
// they are written by inbound stream handlers (one per stream) and read by
// the same and by Peers; every critical section is a few arithmetic steps.
type penalties struct {
	clock Clock
	mu    sync.Mutex
	peers map[peer.ID]penalty
}

func newPenalties(clock Clock) *penalties {
	return &penalties{clock: clock, peers: map[peer.ID]penalty{}}
}

// decayed is p's count at now.
func (p penalty) decayed(now time.Time) float64 {
	secs := now.Sub(p.at).Seconds()
	if secs <= 0 {
		return p.count
	}
	return p.count * math.Pow(invalidMsgDecay, secs)
}

// add charges one invalid frame to id and returns its new score.
func (ps *penalties) add(id peer.ID) float64 {
	now := ps.clock.Now()
	ps.mu.Lock()
	defer ps.mu.Unlock()
	c := ps.peers[id].decayed(now) + 1
	ps.peers[id] = penalty{count: c, at: now}
	return invalidMsgWeight * c * c
}

// score is id's score now, and whether it has a penalty at all.
func (ps *penalties) score(id peer.ID) (float64, bool) {
	now := ps.clock.Now()
	ps.mu.Lock()
	defer ps.mu.Unlock()
	p, ok := ps.peers[id]
	if !ok {
		return 0, false
	}
	c := p.decayed(now)
	if c < penaltyForget {
		delete(ps.peers, id)
		return 0, false
	}
	return invalidMsgWeight * c * c, true
}

// graylisted reports whether id's score is below graylistThreshold.
func (ps *penalties) graylisted(id peer.ID) bool {
	s, _ := ps.score(id)
	return s < graylistThreshold
}
