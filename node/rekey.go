package node

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/keystore"
	"github.com/govnode/govnode/p2p"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// hostSlot holds the node's p2p host behind one pointer, so that a
// governed node-key rotation (rotate_node_key, ARCHITECTURE.md §4,
// "Node-key rotation") can replace the host, and with it the peer id, while
// the transport, block sync, the API and the metrics, which were given the
// slot, go on. A call that lands on the closing host during a switch fails
// as on a closed host (p2p.ErrClosed); callers retry as they do after any
// failed request. The hosts deliver into the same Messages channels
// (p2p.WithMessagesOf), so readers never notice the switch.
type hostSlot struct {
	cur atomic.Pointer[p2p.Host]
	// past adds up the counters of the hosts replaced, so the exported
	// counters do not go back at a switch.
	mu   sync.Mutex
	past p2p.Stats
}

func newHostSlot(h *p2p.Host) *hostSlot {
	s := &hostSlot{}
	s.cur.Store(h)
	return s
}

func (s *hostSlot) get() *p2p.Host { return s.cur.Load() }

func (s *hostSlot) ID() peer.ID { return s.get().ID() }
func (s *hostSlot) Host() host.Host {
	return s.get().Host()
}
func (s *hostSlot) Peers() []p2p.PeerInfo  { return s.get().Peers() }
func (s *hostSlot) SendTx(tx []byte) error { return s.get().SendTx(tx) }
func (s *hostSlot) FlushTxs(ctx context.Context) error {
	return s.get().FlushTxs(ctx)
}
func (s *hostSlot) BroadcastConsensus(data []byte) error { return s.get().BroadcastConsensus(data) }
func (s *hostSlot) SendConsensus(data []byte, to ...peer.ID) error {
	return s.get().SendConsensus(data, to...)
}
func (s *hostSlot) Messages(k p2p.TopicKind) <-chan p2p.Message { return s.get().Messages(k) }
func (s *hostSlot) RequestBlockByHash(ctx context.Context, p peer.ID, hash []byte) ([]*pb.Block, error) {
	return s.get().RequestBlockByHash(ctx, p, hash)
}
func (s *hostSlot) RequestTxs(ctx context.Context, p peer.ID, hashes [][]byte) ([][]byte, error) {
	return s.get().RequestTxs(ctx, p, hashes)
}
func (s *hostSlot) RequestBlocks(ctx context.Context, p peer.ID, from, to uint64) ([]*pb.CommittedBlock, error) {
	return s.get().RequestBlocks(ctx, p, from, to)
}
func (s *hostSlot) RequestStatus(ctx context.Context, p peer.ID) (*pb.SyncStatus, error) {
	return s.get().RequestStatus(ctx, p)
}
func (s *hostSlot) RequestPayloads(ctx context.Context, p peer.ID, commitments [][]byte) ([]*pb.Payload, error) {
	return s.get().RequestPayloads(ctx, p, commitments)
}
func (s *hostSlot) SetValidatorSet(vs *p2p.ValidatorSet) error { return s.get().SetValidatorSet(vs) }
func (s *hostSlot) SetMembership(members []p2p.Member, observers []peer.ID) error {
	return s.get().SetMembership(members, observers)
}
func (s *hostSlot) Close() error { return s.get().Close() }

// Stats are the counters of every host the node ran, the current one's
// added to those replaced.
func (s *hostSlot) Stats() p2p.Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.past.Add(s.get().Stats())
}

// replace puts next in the slot in place of prev, which is closed, keeping
// prev's counters.
func (s *hostSlot) replace(prev, next *p2p.Host) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.past = s.past.Add(prev.Stats())
	s.cur.Store(next)
}

// nodeKeys are the node's libp2p identities: the key file's, and the
// pending key put in place for a governed rotation (`govnode keys
// pending --kind node`), nil without one.
type nodeKeys struct {
	current, pending lcrypto.PrivKey
}

func loadNodeKeys(current, pending crypto.PrivateKey) (nodeKeys, error) {
	var k nodeKeys
	var err error
	if k.current, err = keystore.NodeKeyToLibp2p(current); err != nil {
		return k, err
	}
	if pending != nil {
		if k.pending, err = keystore.NodeKeyToLibp2p(pending); err != nil {
			return k, fmt.Errorf("pending %w", err)
		}
	}
	return k, nil
}

// inForce is the identity the validator set vs calls for: the pending key
// once vs names its peer id (the rotation took effect), the key file's
// while vs names that one; nil when vs names neither (an observer, a
// department not yet added or removed): the identity stays as it is.
func (k nodeKeys) inForce(vs *pb.ValidatorSet) lcrypto.PrivKey {
	named := func(key lcrypto.PrivKey) bool {
		if key == nil {
			return false
		}
		id, err := peer.IDFromPrivateKey(key)
		if err != nil {
			return false
		}
		for _, v := range vs.GetValidators() {
			if v.GetPeerId() == id.String() {
				return true
			}
		}
		return false
	}
	switch {
	case named(k.pending):
		return k.pending
	case named(k.current):
		return k.current
	}
	return nil
}

// rekeyRetries bound the attempts to listen again on the addresses the
// replaced host freed (another process may take a port in between).
const (
	rekeyRetries = 20
	rekeyBackoff = 100 * time.Millisecond
)

// switchIdentity replaces the p2p host with one of identity key, when key
// is not the running host's: the old host is closed (its connections drop;
// the members in force refuse its peer id from the same height) and the new
// one listens on the addresses the old one had bound, delivers into the
// same message channels, and starts from the validator set and membership
// in force. It runs on its own goroutine (runRekeys), never on the commit
// path. An error leaves the node without p2p: Run stops the node, and a
// restart takes the new key (nodeKeys.inForce).
func (n *Node) switchIdentity(ctx context.Context, key lcrypto.PrivKey) error {
	n.membersMu.Lock()
	defer n.membersMu.Unlock()
	old := n.host.get()
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return fmt.Errorf("node key: %w", err)
	}
	if id == old.ID() {
		return nil
	}
	var addrs []string
	for _, a := range old.Host().Network().ListenAddresses() {
		addrs = append(addrs, a.String())
	}
	n.log.Info("node key rotation takes effect: switching the p2p identity", "old_peer_id", old.ID().String(), "new_peer_id", id.String(), "listen", fmt.Sprint(addrs))
	_ = old.Close()
	pcfg := n.pcfg
	pcfg.ListenAddrs = addrs
	var next *p2p.Host
	for i := 0; ; i++ {
		next, err = p2p.New(ctx, pcfg, n.hostOptions(key, n.checkSet.Load().vs, p2p.WithMessagesOf(old))...)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil // the node is stopping
		}
		if i == rekeyRetries {
			return fmt.Errorf("p2p with the rotated node key %s: %w", id, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(rekeyBackoff):
		}
	}
	if ctx.Err() != nil {
		// The node stopped while the host started: Close has closed
		// the one in the slot already.
		_ = next.Close()
		return nil
	}
	if n.members != nil {
		if err := next.SetMembership(n.members.members, n.members.observers); err != nil {
			n.log.Error("p2p membership after the node key rotation", "err", err)
		}
	}
	n.host.replace(old, next)
	n.log.Info("p2p identity switched", "peer_id", id.String())
	return nil
}

// runRekeys switches the node's identity whenever the validator set in
// force calls for another one (followSet signals it), until ctx ends.
func (n *Node) runRekeys(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-n.rekey:
		}
		vs, _ := n.app.Validators()
		key := n.nodeKeys.inForce(vs)
		if key == nil {
			continue
		}
		if err := n.switchIdentity(ctx, key); err != nil {
			return err
		}
	}
}
