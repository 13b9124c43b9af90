package portal

import (
	"container/list"
	"net"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiter is a token bucket per client address, held in an LRU of at
// most maxKeys buckets: the least recently seen address is forgotten
// first (it comes back with a full bucket, the price of bounded memory
// under a flood of addresses). IPv6 clients share a bucket per /64, the
// block one subscriber usually holds, so that walking through one's own
// addresses buys no tokens. Its mutex guards only the LRU; a bucket has
// its own lock.
type limiter struct {
	rate    rate.Limit
	burst   int
	maxKeys int

	mu  sync.Mutex
	lru *list.List               // of *bucket, most recent first
	idx map[string]*list.Element // key → element
}

type bucket struct {
	key string
	lim *rate.Limiter
}

func newLimiter(r float64, burst, maxKeys int) *limiter {
	return &limiter{rate: rate.Limit(r), burst: max(burst, 1), maxKeys: max(maxKeys, 1), lru: list.New(), idx: map[string]*list.Element{}}
}

// allow takes a token of remoteAddr's bucket at now; when it is empty,
// retry is how long until a token is there.
func (l *limiter) allow(remoteAddr string, now time.Time) (ok bool, retry time.Duration) {
	res := l.bucket(clientKey(remoteAddr)).ReserveN(now, 1)
	if !res.OK() {
		return false, time.Second
	}
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return false, d
	}
	return true, 0
}

// clientKey is the bucket key of a remote address: the IPv4 address, or
// the IPv6 /64.
func clientKey(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return host
	}
	if v4 := ip.To4(); v4 != nil {
		return v4.String()
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

func (l *limiter) bucket(key string) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.idx[key]; ok {
		l.lru.MoveToFront(e)
		return e.Value.(*bucket).lim
	}
	for l.lru.Len() >= l.maxKeys {
		old := l.lru.Back()
		l.lru.Remove(old)
		delete(l.idx, old.Value.(*bucket).key)
	}
	b := &bucket{key: key, lim: rate.NewLimiter(l.rate, l.burst)}
	l.idx[key] = l.lru.PushFront(b)
	return b.lim
}

// tracked is the number of buckets held.
func (l *limiter) tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lru.Len()
}
