package api

import (
	"context"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// An event stream of an authenticated caller ends with Unauthenticated
// once its identity's key changes, at the next commit (or within
// streamRecheck); an anonymous stream goes on (ARCHITECTURE.md §6).
func TestStreamEndsWhenCallerChanges(t *testing.T) {
	now := time.Now()
	st := &memState{}
	k := newKey(t)
	idn := activeIdentity("alice", k, 5)
	st.put(t, idn)
	auth := newAuthenticator(st, 0)
	caller, err := auth.check(issue(t, k, "alice", now, time.Hour).Leaf, "192.0.2.1:1", now)
	if err != nil {
		t.Fatal(err)
	}
	// The check a stream makes: its certificate's expiry ends it too.
	if err := caller.recheck(now.Add(2 * time.Hour)); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("recheck after NotAfter: %v, want expired", err)
	}
	commits := NewHeightNotifier(0)
	s := &Server{d: Deps{Commits: commits, Done: make(chan struct{})}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	run := func(c *Caller) chan error {
		done := make(chan error, 1)
		// From a height far ahead: the stream waits and sends nothing.
		go func() {
			done <- s.StreamEvents(WithCaller(ctx, c), connect.NewRequest(&pb.StreamEventsRequest{FromHeight: 1 << 40}), nil)
		}()
		return done
	}
	authed, anon := run(caller), run(&Caller{Addr: "192.0.2.2:1"})
	select {
	case err := <-authed:
		t.Fatalf("the stream ended with its caller unchanged: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	idn.PublicKey, idn.UpdatedHeight = newKey(t).Public(), 6
	st.put(t, idn)
	commits.Set(1)
	select {
	case err := <-authed:
		if connect.CodeOf(err) != connect.CodeUnauthenticated || !strings.Contains(err.Error(), "current key") {
			t.Fatalf("stream ended with %v, want unauthenticated naming the current key", err)
		}
	case <-ctx.Done():
		t.Fatal("the stream of a rotated-out key did not end")
	}
	select {
	case err := <-anon:
		t.Fatalf("the anonymous stream ended: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
}
