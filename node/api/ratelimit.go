package api

// Rate limits on the API (docs/ARCHITECTURE.md §7): a token bucket per
// authenticated identity, and one per remote IP address for anonymous
// callers and failed authentications. An empty bucket answers
// ResourceExhausted with when to retry: an HTTP Retry-After header (whole
// seconds, rounded up) and a google.rpc.RetryInfo error detail. The
// buckets live in an LRU of at most RateLimitConfig.MaxKeys entries: the
// least recently used is forgotten first (it comes back full, the price of
// bounded memory under a flood of addresses).

import (
	"container/list"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"connectrpc.com/connect"
	"golang.org/x/time/rate"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/types/known/durationpb"
)

// RateLimitConfig are the API's rate limits (api.rate_limit_* keys). A
// rate of 0 turns that limit off.
type RateLimitConfig struct {
	// IdentityRate is the sustained requests per second of one
	// authenticated identity, over every address; IdentityBurst the
	// bucket's size.
	IdentityRate  float64
	IdentityBurst int
	// AddrRate and AddrBurst are the same per remote IP address, for
	// anonymous callers and failed authentications.
	AddrRate  float64
	AddrBurst int
	// ExemptLoopback lets requests from a loopback address through
	// unlimited (the operator's CLI, `govnode bench`). Behind a reverse
	// proxy on the same host every request comes from loopback: turn it
	// off there.
	ExemptLoopback bool
	// MaxKeys bounds the buckets kept (identities and addresses together).
	MaxKeys int
}

// Defaults of RateLimitConfig (README "Configuration").
const (
	DefaultIdentityRate  = 200
	DefaultIdentityBurst = 400
	DefaultAddrRate      = 50
	DefaultAddrBurst     = 100
	DefaultRateLimitKeys = 10_000
)

// DefaultRateLimits are the limits of a new config.
func DefaultRateLimits() RateLimitConfig {
	return RateLimitConfig{
		IdentityRate: DefaultIdentityRate, IdentityBurst: DefaultIdentityBurst,
		AddrRate: DefaultAddrRate, AddrBurst: DefaultAddrBurst,
		ExemptLoopback: true, MaxKeys: DefaultRateLimitKeys,
	}
}

// limiter holds the buckets. Its mutex guards only the LRU; a bucket has
// its own lock (rate.Limiter).
type limiter struct {
	cfg RateLimitConfig

	mu  sync.Mutex
	lru *list.List               // of *bucket, most recently used first
	idx map[string]*list.Element // key → element
}

type bucket struct {
	key string
	lim *rate.Limiter
}

func newLimiter(cfg RateLimitConfig) *limiter {
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = DefaultRateLimitKeys
	}
	return &limiter{cfg: cfg, lru: list.New(), idx: make(map[string]*list.Element)}
}

// allowCaller takes a token for c at now: from its identity's bucket if
// authenticated, else from its address's. When refused, retry is how long
// until a token is there and key names the bucket ("identity" or
// "address").
func (l *limiter) allowCaller(c *Caller, now time.Time) (ok bool, retry time.Duration, key string) {
	if l.exempt(c.Addr) {
		return true, 0, ""
	}
	if c.Authenticated() {
		ok, retry = l.take("i/"+c.IdentityID, l.cfg.IdentityRate, l.cfg.IdentityBurst, now)
		return ok, retry, "identity"
	}
	ok, retry = l.take("a/"+hostOf(c.Addr), l.cfg.AddrRate, l.cfg.AddrBurst, now)
	return ok, retry, "address"
}

// allowAddr takes a token from addr's bucket (a failed authentication).
func (l *limiter) allowAddr(addr string, now time.Time) (bool, time.Duration) {
	if l.exempt(addr) {
		return true, 0
	}
	return l.take("a/"+hostOf(addr), l.cfg.AddrRate, l.cfg.AddrBurst, now)
}

func (l *limiter) exempt(addr string) bool {
	if !l.cfg.ExemptLoopback {
		return false
	}
	ip := net.ParseIP(hostOf(addr))
	return ip != nil && ip.IsLoopback()
}

func (l *limiter) take(key string, r float64, burst int, now time.Time) (bool, time.Duration) {
	if r <= 0 {
		return true, 0
	}
	b := l.bucket(key, r, burst)
	res := b.ReserveN(now, 1)
	if !res.OK() {
		return false, time.Second // a burst of 0 admits nothing
	}
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return false, d
	}
	return true, 0
}

// bucket returns key's bucket, made full if new, and marks it used; the
// least recently used bucket goes when MaxKeys are held.
func (l *limiter) bucket(key string, r float64, burst int) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.idx[key]; ok {
		l.lru.MoveToFront(e)
		return e.Value.(*bucket).lim
	}
	for l.lru.Len() >= l.cfg.MaxKeys {
		old := l.lru.Back()
		l.lru.Remove(old)
		delete(l.idx, old.Value.(*bucket).key)
	}
	b := &bucket{key: key, lim: rate.NewLimiter(rate.Limit(r), max(burst, 1))}
	l.idx[key] = l.lru.PushFront(b)
	return b.lim
}

// tracked is the number of buckets held.
func (l *limiter) tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lru.Len()
}

// errRateLimited is the message of a refusal by the rate limits.
var errRateLimited = errors.New("rate limit exceeded")

// writeLimited answers ResourceExhausted: retry after (Retry-After in
// whole seconds, at least 1; RetryInfo with the exact delay).
func (g *gate) writeLimited(w http.ResponseWriter, r *http.Request, retry time.Duration, what string) {
	secs := int64((retry + time.Second - 1) / time.Second)
	secs = max(secs, 1)
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	ce := connect.NewError(connect.CodeResourceExhausted, fmt.Errorf("%w for %s: retry after %s", errRateLimited, what, retry.Round(time.Millisecond)))
	if d, err := connect.NewErrorDetail(&errdetails.RetryInfo{RetryDelay: durationpb.New(retry)}); err == nil {
		ce.AddDetail(d)
	}
	g.writeErr(w, r, ce)
}
