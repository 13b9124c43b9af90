package crypto

import (
	"crypto/sha256"
	"encoding/binary"
	"sync"

	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// SigCache remembers signatures that verified, keyed by a hash of the
// public key (with its scheme), the signed bytes and the signature, in a
// bounded FIFO. The key is exactly Verify's input, so a hit is Verify's
// verdict. One cache may be shared by several verifiers (the p2p layer's
// gossip validator and the consensus core, or every replica of a
// simulation), so that a signature is checked once per process; it is safe
// for concurrent use. Only successes are cached, so a flood of bad
// signatures cannot evict anything but older successes.
type SigCache struct {
	mu   sync.Mutex
	set  map[[32]byte]struct{}
	ring [][32]byte
	next int
}

// NewSigCache makes a cache of size entries (at least 1).
func NewSigCache(size int) *SigCache {
	size = max(size, 1)
	return &SigCache{set: make(map[[32]byte]struct{}, size), ring: make([][32]byte, size)}
}

// Verify is Verify(pub, msg, sig) through the cache: a signature that
// verified before, through this cache, is not verified again. hit reports
// whether the cache answered. A nil cache verifies every time.
func (s *SigCache) Verify(pub *pb.PublicKey, msg, sig []byte) (hit bool, err error) {
	if s == nil {
		return false, Verify(pub, msg, sig)
	}
	k := sigCacheKey(pub, msg, sig)
	s.mu.Lock()
	_, hit = s.set[k]
	s.mu.Unlock()
	if hit {
		return true, nil
	}
	if err := Verify(pub, msg, sig); err != nil {
		return false, err
	}
	s.add(k)
	return false, nil
}

func sigCacheKey(pub *pb.PublicKey, msg, sig []byte) [32]byte {
	h := sha256.New()
	var lens [12]byte
	binary.BigEndian.PutUint32(lens[0:], uint32(pub.GetScheme()))
	binary.BigEndian.PutUint32(lens[4:], uint32(len(pub.GetKey())))
	binary.BigEndian.PutUint32(lens[8:], uint32(len(msg)))
	h.Write(lens[:])
	h.Write(pub.GetKey())
	h.Write(msg)
	h.Write(sig)
	var k [32]byte
	h.Sum(k[:0])
	return k
}

func (s *SigCache) add(k [32]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.set[k]; ok {
		return
	}
	if old := s.ring[s.next]; old != ([32]byte{}) {
		delete(s.set, old)
	}
	s.ring[s.next] = k
	s.next = (s.next + 1) % len(s.ring)
	s.set[k] = struct{}{}
}
