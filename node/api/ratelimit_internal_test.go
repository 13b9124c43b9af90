package api

// The rate limits (ratelimit.go, docs/ARCHITECTURE.md §7): a burst then
// ResourceExhausted with Retry-After and RetryInfo; an identity's bucket
// follows it across addresses and is not an address's; failed
// authentications charge the address; the loopback exemption switch; the
// bound on buckets tracked.

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	pb "github.com/govnode/govnode/proto/govnode/v1"
)

func TestRateLimitBurstThenExhausted(t *testing.T) {
	now := time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)
	st := &memState{}
	g, _ := testGate(st, &now, RateLimitConfig{AddrRate: 2, AddrBurst: 3, IdentityRate: 1, IdentityBurst: 1})
	for i := range 3 {
		if a := serve(g, connectReq("192.0.2.1:1000", nil)); a.status != 200 {
			t.Fatalf("request %d of the burst of 3: %+v", i+1, a)
		}
	}
	a := serve(g, connectReq("192.0.2.1:1001", nil)) // another port, same address
	if a.code != "resource_exhausted" || a.status != http.StatusTooManyRequests {
		t.Fatalf("4th request: %+v, want 429 resource_exhausted", a)
	}
	if ra := a.header.Get("Retry-After"); ra != "1" {
		t.Fatalf("Retry-After %q, want 1 (0.5 s rounded up)", ra)
	}
	if got := metricValue(g.m.rateLimited.WithLabelValues("address")); got != 1 {
		t.Fatalf("govnode_api_rate_limited_total{key=address} = %v, want 1", got)
	}
	// Another address has its own bucket.
	if a := serve(g, connectReq("192.0.2.2:1000", nil)); a.status != 200 {
		t.Fatalf("another address: %+v", a)
	}
	now = now.Add(500 * time.Millisecond) // one token back at 2/s
	if a := serve(g, connectReq("192.0.2.1:1000", nil)); a.status != 200 {
		t.Fatalf("after the retry delay: %+v", a)
	}
}

// An identity's bucket is its own whatever the address, and is not the
// address's: an identity at its limit is refused from a fresh address,
// and an address whose anonymous bucket is empty still serves the
// identity.
func TestRateLimitPerIdentity(t *testing.T) {
	now := time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)
	st := &memState{}
	k := newKey(t)
	st.put(t, activeIdentity("alice", k, 5))
	g, _ := testGate(st, &now, RateLimitConfig{AddrRate: 1, AddrBurst: 1, IdentityRate: 1, IdentityBurst: 2})
	cert := issue(t, k, "alice", now, time.Hour).Leaf
	if a := serve(g, connectReq("192.0.2.1:1", nil)); a.status != 200 {
		t.Fatal(a)
	}
	if a := serve(g, connectReq("192.0.2.1:1", nil)); a.code != "resource_exhausted" {
		t.Fatalf("anonymous over its burst: %+v", a)
	}
	for i, addr := range []string{"192.0.2.1:2", "198.51.100.9:1"} {
		if a := serve(g, connectReq(addr, cert)); a.id != "alice" {
			t.Fatalf("alice's request %d from %s: %+v", i+1, addr, a)
		}
	}
	a := serve(g, connectReq("203.0.113.5:1", cert))
	if a.code != "resource_exhausted" || a.header.Get("Retry-After") == "" {
		t.Fatalf("alice's 3rd request from a fresh address: %+v, want resource_exhausted", a)
	}
	if got := metricValue(g.m.rateLimited.WithLabelValues("identity")); got != 1 {
		t.Fatalf("govnode_api_rate_limited_total{key=identity} = %v, want 1", got)
	}
	// Failed authentications charge the address: the fresh address's one
	// token goes on a bad certificate, and the next is refused.
	bad := issue(t, newKey(t), "alice", now, time.Hour).Leaf
	if a := serve(g, connectReq("203.0.113.6:1", bad)); a.code != "unauthenticated" {
		t.Fatalf("bad certificate: %+v", a)
	}
	if a := serve(g, connectReq("203.0.113.6:1", bad)); a.code != "resource_exhausted" {
		t.Fatalf("second bad certificate from the address: %+v, want resource_exhausted", a)
	}
}

func TestRateLimitLoopbackSwitch(t *testing.T) {
	now := time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, exempt := range []bool{true, false} {
		g, _ := testGate(&memState{}, &now, RateLimitConfig{AddrRate: 1, AddrBurst: 1, ExemptLoopback: exempt})
		refused := 0
		for range 10 {
			for _, addr := range []string{"127.0.0.1:5", "[::1]:5"} {
				if a := serve(g, connectReq(addr, nil)); a.status != 200 {
					refused++
				}
			}
		}
		if exempt && refused != 0 {
			t.Errorf("loopback exempt: %d of 20 refused", refused)
		}
		if !exempt && refused != 18 {
			t.Errorf("loopback not exempt: %d of 20 refused, want 18 (a burst of 1 per address)", refused)
		}
		if a := serve(g, connectReq("192.0.2.1:5", nil)); a.status != 200 {
			t.Fatal(a)
		}
		if a := serve(g, connectReq("192.0.2.1:5", nil)); a.code != "resource_exhausted" {
			t.Errorf("exempt %v: a non-loopback address is limited all the same: %+v", exempt, a)
		}
	}
}

// The buckets tracked never exceed MaxKeys, however many addresses call;
// the least recently used goes first.
func TestRateLimitMemoryBound(t *testing.T) {
	l := newLimiter(RateLimitConfig{AddrRate: 1, AddrBurst: 1, MaxKeys: 100})
	now := time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)
	if ok, _ := l.allowAddr("192.0.2.1:1", now); !ok {
		t.Fatal("first request refused")
	}
	for i := range 5000 {
		l.allowAddr("10."+strconv.Itoa(i/65536)+"."+strconv.Itoa(i/256%256)+"."+strconv.Itoa(i%256)+":1", now)
		if i%50 == 0 { // keep 192.0.2.1 recently used
			if ok, _ := l.allowAddr("192.0.2.1:1", now); ok {
				t.Fatalf("192.0.2.1 got a token at step %d: its empty bucket was forgotten", i)
			}
		}
		if n := l.tracked(); n > 100 {
			t.Fatalf("%d buckets tracked, cap 100", n)
		}
	}
	if n := l.tracked(); n != 100 {
		t.Fatalf("%d buckets tracked after 5000 addresses, want the cap 100", n)
	}
}

// Over Connect: the client sees resource_exhausted with a RetryInfo
// detail.
func TestRateLimitRetryInfo(t *testing.T) {
	now := time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)
	g, _ := testGate(&memState{}, &now, RateLimitConfig{AddrRate: 0.25, AddrBurst: 1})
	r := connectReq("192.0.2.1:1", nil)
	serve(g, r)
	a := serve(g, connectReq("192.0.2.1:1", nil))
	if a.header.Get("Retry-After") != "4" {
		t.Fatalf("Retry-After %q, want 4", a.header.Get("Retry-After"))
	}
	// Through a Connect client, against the same kind of gate.
	srv := newTestHTTPServer(t, g)
	c := connect.NewClient[pb.StatusRequest, pb.StatusResponse](http.DefaultClient, srv+"/govnode.v1.NodeService/Status")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var err error
	for range 3 {
		if _, err = c.CallUnary(ctx, connect.NewRequest(&pb.StatusRequest{})); connect.CodeOf(err) == connect.CodeResourceExhausted {
			break
		}
	}
	var ce *connect.Error
	if !asConnectErr(err, &ce) || ce.Code() != connect.CodeResourceExhausted {
		t.Fatalf("over Connect: %v, want resource_exhausted", err)
	}
	found := false
	for _, d := range ce.Details() {
		v, derr := d.Value()
		if ri, ok := v.(*errdetails.RetryInfo); derr == nil && ok && ri.GetRetryDelay().AsDuration() > 0 {
			found = true
		}
	}
	if !found {
		t.Fatalf("no RetryInfo detail in %v", ce.Details())
	}
}

func newTestHTTPServer(t *testing.T, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func asConnectErr(err error, ce **connect.Error) bool { return errors.As(err, ce) }
