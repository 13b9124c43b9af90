package payloads

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/exec/exectest"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

const (
	protectedType = "birth_certificate"
	publicType    = "land_title"
)

// A member follows the chain: a created version of a protected type whose
// payload it lacks is fetched from a peer; a public type's hash is never
// asked for; a payload no peer has yet does not hold the cursor back and
// is fetched once a peer has it; an amended version is fetched too.
func TestManagerFetchesCreatedPayloads(t *testing.T) {
	r := newRig(t, true, nil)
	c1, p1 := newPayload(t, []byte("birth certificate of A"))
	cPub, _ := newPayload(t, []byte("a public record's content hash"))
	c2, p2 := newPayload(t, []byte("birth certificate of B"))
	r.peers.hold(c1, p1)
	r.chain.version(protectedType, "r1", 1, c1)
	r.chain.version(publicType, "land1", 1, cPub)
	r.chain.version(protectedType, "r2", 1, c2)
	r.chain.commit(recEvent(protectedType, "r1", actionCreated, 1), recEvent(publicType, "land1", actionCreated, 1))
	r.chain.commit(recEvent(protectedType, "r2", actionCreated, 1))
	r.run()

	r.caughtUp()
	eventually(t, 10*time.Second, "r1's payload fetched", func() bool { return r.has(c1) })
	if got, err := r.store.Get(c1); err != nil || !proto.Equal(got, p1) {
		t.Fatalf("stored %v, %v", got, err)
	}
	if r.peers.wasAsked(cPub) {
		t.Fatal("a public record's hash was asked for")
	}
	// r2's payload: no peer has it; the cursor moved on all the same.
	eventually(t, 10*time.Second, "r2's payload asked for", func() bool { return r.peers.wasAsked(c2) })
	if r.has(c2) || r.m.Stats().Wanted != 1 {
		t.Fatalf("r2 held %v, wanted %d", r.has(c2), r.m.Stats().Wanted)
	}
	r.peers.hold(c2, p2)
	eventually(t, 10*time.Second, "r2's payload fetched on a retry", func() bool { return r.has(c2) })

	// An amendment is a new version with its own payload.
	c3, p3 := newPayload(t, []byte("birth certificate of A, amended"))
	r.peers.hold(c3, p3)
	r.chain.version(protectedType, "r1", 2, c3)
	r.chain.commit(recEvent(protectedType, "r1", actionAmended, 2))
	eventually(t, 10*time.Second, "the amended version's payload fetched", func() bool { return r.has(c3) })
	st := r.m.Stats()
	if st.Fetched != 3 || st.Wanted != 0 || st.FetchFailures == 0 {
		t.Fatalf("stats %+v", st)
	}
	// Every fetched payload is bound: none is pending, none expires.
	if st.Pending != 0 {
		t.Fatalf("%d pending", st.Pending)
	}
}

// ARCHITECTURE.md §5 "Erasing personal data": an erased record's payloads
// (every version's) are deleted and compacted away as its height is
// processed: a marker planted in them is in the database's files before
// and in none after, Payload answers ErrErased, and nothing fetches them
// again. A payload that another record still commits to is kept.
func TestManagerErasesPayloads(t *testing.T) {
	r := newRig(t, true, nil)
	marker := []byte("PLANTED-MARKER-erase-r1")
	c1, p1 := newPayload(t, append([]byte("birth certificate of A, v1 "), marker...))
	c2, p2 := newPayload(t, append([]byte("birth certificate of A, v2 "), marker...))
	shared, pShared := newPayload(t, []byte("content two records commit to"))
	for _, x := range []struct {
		c []byte
		p *pb.Payload
	}{{c1, p1}, {c2, p2}, {shared, pShared}} {
		if err := r.m.Accept(x.c, x.p); err != nil {
			t.Fatal(err)
		}
	}
	r.chain.version(protectedType, "r1", 1, c1)
	r.chain.commit(recEvent(protectedType, "r1", actionCreated, 1))
	r.chain.version(protectedType, "r1", 2, c2)
	r.chain.commit(recEvent(protectedType, "r1", actionAmended, 2))
	r.chain.version(protectedType, "r1", 3, shared)
	r.chain.version(protectedType, "r9", 1, shared)
	r.chain.commit(recEvent(protectedType, "r1", actionAmended, 3), recEvent(protectedType, "r9", actionCreated, 1))
	r.run()
	r.caughtUp()
	if hits := filesContaining(t, r.dir, marker); len(hits) == 0 {
		t.Fatal("the marker is in no file before the erasure: the search cannot fail")
	}
	if st := r.m.Stats(); st.Pending != 0 || st.Accepted != 3 {
		t.Fatalf("before the erasure: %+v", st)
	}

	r.chain.eraseInState("r1", 4)
	committed := time.Now()
	h := r.chain.commit(recEvent(protectedType, "r1", actionErased, 3))
	eventually(t, 60*time.Second, "r1's payloads deleted", func() bool {
		return r.m.Stats().Cursor >= h
	})
	t.Logf("erased %v after the commit", time.Since(committed))
	if r.has(c1) || r.has(c2) {
		t.Fatal("an erased version's payload is still held")
	}
	if hits := filesContaining(t, r.dir, marker); len(hits) != 0 {
		t.Fatalf("after the erasure the marker is still in %v", hits)
	}
	if !r.has(shared) {
		t.Fatal("a payload record r9 still commits to was deleted with r1's")
	}
	for _, c := range [][]byte{c1, c2} {
		if _, err := r.m.Payload(context.Background(), c); !errors.Is(err, ErrErased) {
			t.Fatalf("Payload of an erased version: %v", err)
		}
	}
	if r.peers.calls.Load() != 0 {
		t.Fatal("an erased payload was fetched")
	}
	if st := r.m.Stats(); st.Erased != 2 {
		t.Fatalf("Erased = %d, want 2", st.Erased)
	}
	if out := r.logs.String(); !strings.Contains(out, "record content erased") || !strings.Contains(out, "payloads_kept_for_other_records=1") {
		t.Fatalf("erasure not logged as expected:\n%s", out)
	}
	// Erasing r9 too deletes the shared payload.
	r.chain.eraseInState("r9", 5)
	h = r.chain.commit(recEvent(protectedType, "r9", actionErased, 1))
	eventually(t, 60*time.Second, "r9 erased", func() bool { return r.m.Stats().Cursor >= h })
	if r.has(shared) {
		t.Fatal("the shared payload outlived both records")
	}
}

// A payload fetched while its record is being erased is not stored after
// the erasure: Payload answers ErrErased.
func TestManagerPayloadFetchedDuringErasureNotStored(t *testing.T) {
	r := newRig(t, true, nil)
	c, p := newPayload(t, []byte("content"))
	r.chain.version(protectedType, "r1", 1, c)
	r.chain.commit(recEvent(protectedType, "r1", actionCreated, 1))
	release, entered := make(chan struct{}), make(chan struct{})
	r.m.d.Fetch = func(ctx context.Context, cs [][]byte) ([]*pb.Payload, error) {
		close(entered)
		select {
		case <-release:
		case <-ctx.Done():
		}
		return []*pb.Payload{p}, nil
	}
	// Process height 1 without Run: r1 is wanted, not fetched.
	if err := r.m.processHeight(1); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() { _, err := r.m.Payload(context.Background(), c); got <- err }()
	<-entered
	r.chain.eraseInState("r1", 2)
	r.chain.commit(recEvent(protectedType, "r1", actionErased, 1))
	if err := r.m.processHeight(2); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := <-got; !errors.Is(err, ErrErased) {
		t.Fatalf("Payload = %v, want ErrErased", err)
	}
	if r.has(c) {
		t.Fatal("stored after its erasure")
	}
}

// A node syncing late replays a created event of a record that committed
// state says is erased: it fetches nothing, logs no warning, and the
// erasure after it passes quietly.
func TestManagerSkipsRecordErasedInState(t *testing.T) {
	r := newRig(t, true, nil)
	c, p := newPayload(t, []byte("content erased before this node joined"))
	r.peers.hold(c, p) // a peer that wrongly kept it: still not asked
	r.chain.version(protectedType, "r1", 1, c)
	r.chain.commit(recEvent(protectedType, "r1", actionCreated, 1))
	r.chain.eraseInState("r1", 2)
	r.chain.commit(recEvent(protectedType, "r1", actionErased, 1))
	r.run()
	r.caughtUp()
	time.Sleep(100 * time.Millisecond) // several retry intervals: a want would have been fetched
	if r.peers.calls.Load() != 0 || r.has(c) {
		t.Fatalf("fetched an erased record's payload (%d fetches)", r.peers.calls.Load())
	}
	if st := r.m.Stats(); st.SkippedErased != 1 || st.Wanted != 0 {
		t.Fatalf("stats %+v", st)
	}
	if out := r.logs.String(); strings.Contains(out, "level=WARN") || strings.Contains(out, "level=ERROR") {
		t.Fatalf("warnings logged:\n%s", out)
	}
}

// An observer fetches nothing, in the background or on demand, and
// accepts nothing; when its department joins the validator set it fetches
// the payloads of the records it followed meanwhile.
func TestManagerObserverNeverFetches(t *testing.T) {
	r := newRig(t, false, func(d *Deps) { d.GCInterval = 10 * time.Millisecond })
	c, p := newPayload(t, []byte("content"))
	r.peers.hold(c, p)
	r.chain.version(protectedType, "r1", 1, c)
	r.chain.commit(recEvent(protectedType, "r1", actionCreated, 1))
	r.run()
	r.caughtUp()
	time.Sleep(100 * time.Millisecond)
	if _, err := r.m.Payload(context.Background(), c); !errors.Is(err, ErrNotMember) {
		t.Fatalf("Payload on an observer: %v", err)
	}
	if err := r.m.Accept(c, p); !errors.Is(err, ErrNotMember) {
		t.Fatalf("Accept on an observer: %v", err)
	}
	if r.peers.calls.Load() != 0 || r.has(c) {
		t.Fatal("an observer fetched a payload")
	}
	if r.m.Stats().Wanted != 0 {
		t.Fatal("an observer queued a fetch")
	}
	// Its department joins the set in force.
	r.member.Store(true)
	eventually(t, 20*time.Second, "the new member fetched what it followed", func() bool { return r.has(c) })
}

// Payload: held → at once; missing → fetched, stored, returned; no peer →
// ErrUnavailable; a fetch that hangs is bounded by FetchTimeout.
func TestManagerPayloadOnDemand(t *testing.T) {
	r := newRig(t, true, func(d *Deps) { d.FetchTimeout = 200 * time.Millisecond })
	ctx := context.Background()
	c, p := newPayload(t, []byte("content"))
	if _, err := r.m.Payload(ctx, c); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("no peer has it: %v", err)
	}
	r.peers.hold(c, p)
	got, err := r.m.Payload(ctx, c)
	if err != nil || !proto.Equal(got, p) || !r.has(c) {
		t.Fatalf("fetched %v, %v (stored %v)", got, err, r.has(c))
	}
	calls := r.peers.calls.Load()
	if got, err := r.m.Payload(ctx, c); err != nil || !proto.Equal(got, p) || r.peers.calls.Load() != calls {
		t.Fatalf("held: %v, %v, %d fetches", got, err, r.peers.calls.Load()-calls)
	}
	if _, err := r.m.Payload(ctx, c[:31]); !errors.Is(err, ErrBadPayload) {
		t.Fatalf("short commitment: %v", err)
	}
	// A peer answering with another payload is not believed.
	c2, _ := newPayload(t, []byte("wanted"))
	_, forged := newPayload(t, []byte("forged"))
	r.peers.hold(c2, forged)
	if _, err := r.m.Payload(ctx, c2); !errors.Is(err, ErrUnavailable) || r.has(c2) {
		t.Fatalf("forged answer: %v (stored %v)", err, r.has(c2))
	}
	r.peers.block.Store(true)
	c3, _ := newPayload(t, []byte("nobody answers"))
	start := time.Now()
	if _, err := r.m.Payload(ctx, c3); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("hanging peer: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("a hanging fetch took %v", d)
	}
	if st := r.m.Stats(); st.FetchedOnDemand != 1 || st.Pending != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// Accept refuses a payload that does not open its commitment, one over
// the store's limit, and more than MaxPending waiting; a payload bound by
// a committed version no longer counts as pending.
func TestManagerAccept(t *testing.T) {
	r := newRig(t, true, func(d *Deps) { d.MaxPending = 2 })
	c1, p1 := newPayload(t, []byte("one"))
	c2, p2 := newPayload(t, []byte("two"))
	c3, p3 := newPayload(t, []byte("three"))
	if err := r.m.Accept(c1, &pb.Payload{Salt: p1.GetSalt(), Content: []byte("not one")}); !errors.Is(err, ErrBadPayload) {
		t.Fatalf("bad payload: %v", err)
	}
	big, pBig := newPayload(t, make([]byte, 4097))
	if err := r.m.Accept(big, pBig); !errors.Is(err, ErrBadPayload) {
		t.Fatalf("over the limit: %v", err)
	}
	for _, x := range []struct {
		c []byte
		p *pb.Payload
	}{{c1, p1}, {c2, p2}, {c1, p1}} {
		if err := r.m.Accept(x.c, x.p); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.m.Accept(c3, p3); !errors.Is(err, ErrFull) {
		t.Fatalf("third pending: %v", err)
	}
	r.chain.version(protectedType, "r1", 1, c1)
	r.chain.commit(recEvent(protectedType, "r1", actionCreated, 1))
	r.run()
	r.caughtUp()
	if err := r.m.Accept(c3, p3); err != nil {
		t.Fatalf("after one was bound: %v", err)
	}
	if st := r.m.Stats(); st.Pending != 2 || st.Accepted != 3 || r.peers.calls.Load() != 0 {
		t.Fatalf("stats %+v, %d fetches", st, r.peers.calls.Load())
	}
}

// Accepted payloads that no committed version binds are deleted (and
// compacted away) once PendingTTL has passed; bound ones and young ones
// stay.
func TestManagerPendingTTL(t *testing.T) {
	r := newRig(t, true, func(d *Deps) { d.PendingTTL = time.Hour; d.GCInterval = 10 * time.Millisecond })
	marker := []byte("PLANTED-MARKER-pending")
	stale, pStale := newPayload(t, append([]byte("tx never committed "), marker...))
	bound, pBound := newPayload(t, []byte("tx committed"))
	if err := r.m.Accept(stale, pStale); err != nil {
		t.Fatal(err)
	}
	if err := r.m.Accept(bound, pBound); err != nil {
		t.Fatal(err)
	}
	r.chain.version(protectedType, "r1", 1, bound)
	r.chain.commit(recEvent(protectedType, "r1", actionCreated, 1))
	r.run()
	r.caughtUp()
	r.clock.advance(59 * time.Minute)
	young, pYoung := newPayload(t, []byte("accepted a minute before the sweep"))
	if err := r.m.Accept(young, pYoung); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // sweeps run: nothing is old enough
	if !r.has(stale) {
		t.Fatal("deleted before its TTL")
	}
	if hits := filesContaining(t, r.dir, marker); len(hits) == 0 {
		t.Fatal("the marker is in no file: the search cannot fail")
	}
	r.clock.advance(2 * time.Minute)
	eventually(t, 10*time.Second, "the stale payload expired", func() bool { return !r.has(stale) })
	if !r.has(bound) || !r.has(young) {
		t.Fatalf("bound held %v, young held %v", r.has(bound), r.has(young))
	}
	if hits := filesContaining(t, r.dir, marker); len(hits) != 0 {
		t.Fatalf("an expired payload's content is still in %v", hits)
	}
	if st := r.m.Stats(); st.Expired != 1 || st.Pending != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// The cursor and the fetch queue live in the payload database: after a
// restart the manager goes on from the height after the last one it
// processed (it reads no earlier height again) and still fetches a
// payload queued before.
func TestManagerCursorPersisted(t *testing.T) {
	r := newRig(t, true, nil)
	c1, p1 := newPayload(t, []byte("one"))
	c2, p2 := newPayload(t, []byte("two"))
	r.peers.hold(c1, p1)
	r.chain.version(protectedType, "r1", 1, c1)
	r.chain.commit(recEvent(protectedType, "r1", actionCreated, 1))
	r.chain.version(protectedType, "r2", 1, c2)
	r.chain.commit(recEvent(protectedType, "r2", actionCreated, 1))
	r.chain.commit()
	r.run()
	r.caughtUp()
	eventually(t, 10*time.Second, "r1's payload fetched", func() bool { return r.has(c1) })
	reads := r.chain.readsOf(2)

	r.reopen(nil)
	st := r.m.Stats()
	if st.Cursor != 3 || st.Wanted != 1 {
		t.Fatalf("after reopen: %+v, want cursor 3 and r2's payload queued", st)
	}
	r.peers.hold(c2, p2)
	r.chain.commit()
	r.run()
	r.caughtUp()
	eventually(t, 10*time.Second, "the queued payload fetched after the restart", func() bool { return r.has(c2) })
	if r.chain.readsOf(2) != reads || r.chain.readsOf(4) != 1 {
		t.Fatalf("height 2 read %d more times, height 4 %d times", r.chain.readsOf(2)-reads, r.chain.readsOf(4))
	}
	// A fresh store starts at height 1.
	fresh := newRig(t, true, nil)
	if fresh.m.Stats().Cursor != 0 {
		t.Fatal("a fresh store does not start before height 1")
	}
}

// A height whose reads fail is retried, not skipped.
func TestManagerRetriesFailedHeight(t *testing.T) {
	r := newRig(t, true, nil)
	c, p := newPayload(t, []byte("content"))
	r.peers.hold(c, p)
	r.chain.version(protectedType, "r1", 1, c)
	r.chain.commit(recEvent(protectedType, "r1", actionCreated, 1))
	r.chain.mu.Lock()
	r.chain.state.FailGet = string(exec.RecordTypeKey(protectedType))
	r.chain.mu.Unlock()
	r.run()
	eventually(t, 10*time.Second, "a failure logged", func() bool {
		return strings.Contains(r.logs.String(), "height not processed; retrying")
	})
	if r.m.Stats().Cursor != 0 {
		t.Fatal("the cursor moved past a failed height")
	}
	r.chain.mu.Lock()
	r.chain.state.FailGet = ""
	r.chain.mu.Unlock()
	r.caughtUp()
	eventually(t, 10*time.Second, "fetched after the retry", func() bool { return r.has(c) })
}

// With the state machine (exectest's fixture, whose birth_cert type is
// protected): the issuing node accepts the payloads at submit; another
// member fetches them from it as the blocks commit (through the issuer's
// Store.Payloads, what p2p serves); the subject's EraseRecordContent makes
// both delete every version's payload, off their disks; a node that
// follows the chain only afterwards replays the created and amended
// events, fetches nothing and warns of nothing.
func TestManagerWithTheStateMachine(t *testing.T) {
	f := exectest.NewFixture(2)
	ec, err := f.NewChain(exec.DefaultConfig(exectest.ChainID))
	if err != nil {
		t.Fatal(err)
	}
	ch := newChainOver(t, ec.Store)
	issuer := newRigOn(t, ch, true, nil)
	other := newRigOn(t, ch, true, nil)
	var fetches atomic.Int32
	other.m.d.Fetch = func(_ context.Context, cs [][]byte) ([]*pb.Payload, error) {
		fetches.Add(1)
		return issuer.store.Payloads(cs), nil
	}
	issuer.run()
	other.run()

	marker := []byte("PLANTED-MARKER-state-machine")
	c1, p1 := newPayload(t, append([]byte("birth certificate of cit0, born in d1 "), marker...))
	c2, p2 := newPayload(t, append([]byte("birth certificate of cit0, corrected "), marker...))
	if err := issuer.m.Accept(c1, p1); err != nil {
		t.Fatal(err)
	}
	ch.apply(ec, f.S("d1.issuer").Tx(&pb.TxBody{Action: &pb.TxBody_CreateRecord{CreateRecord: &pb.CreateRecord{
		RecordId: "bc1", RecordType: exectest.BirthCert, SubjectId: "cit0", ContentHash: c1}}}))
	if err := issuer.m.Accept(c2, p2); err != nil {
		t.Fatal(err)
	}
	ch.apply(ec, f.S("d1.issuer").Tx(&pb.TxBody{Action: &pb.TxBody_AmendRecord{AmendRecord: &pb.AmendRecord{
		RecordId: "bc1", ExpectedVersion: 1, ContentHash: c2, Reason: "correction"}}}))
	for _, r := range []*rig{issuer, other} {
		r.caughtUp()
		eventually(t, 10*time.Second, "both versions' payloads held", func() bool { return r.has(c1) && r.has(c2) })
		if hits := filesContaining(t, r.dir, marker); len(hits) == 0 {
			t.Fatal("the marker is in no file before the erasure: the search cannot fail")
		}
	}
	if st := issuer.m.Stats(); st.Pending != 0 || fetches.Load() == 0 || other.m.Stats().Fetched != 2 {
		t.Fatalf("issuer %+v, other %+v", st, other.m.Stats())
	}

	ch.apply(ec, f.S("cit0").Tx(&pb.TxBody{Action: &pb.TxBody_EraseRecordContent{EraseRecordContent: &pb.EraseRecordContent{
		RecordId: "bc1", Reason: "I moved abroad", LegalBasis: "GDPR art. 17(1)(a)"}}}))
	for _, r := range []*rig{issuer, other} {
		r.caughtUp()
		if r.has(c1) || r.has(c2) {
			t.Fatal("an erased version's payload is still held")
		}
		if hits := filesContaining(t, r.dir, marker); len(hits) != 0 {
			t.Fatalf("after the erasure the marker is still in %v", hits)
		}
		if st := r.m.Stats(); st.Erased != 2 {
			t.Fatalf("Erased = %d", st.Erased)
		}
	}

	late := newRigOn(t, ch, true, nil)
	late.peers.hold(c1, p1) // a peer that kept it wrongly: still not asked
	late.run()
	late.caughtUp()
	time.Sleep(100 * time.Millisecond)
	if late.peers.calls.Load() != 0 || late.has(c1) {
		t.Fatal("a node syncing late fetched an erased record's payload")
	}
	if st := late.m.Stats(); st.SkippedErased != 2 {
		t.Fatalf("late node %+v", st)
	}
	for _, r := range []*rig{issuer, other, late} {
		if out := r.logs.String(); strings.Contains(out, "level=WARN") || strings.Contains(out, "level=ERROR") {
			t.Fatalf("warnings logged:\n%s", out)
		}
	}
}

// An erased payload is never stored again (a reader who kept a copy sends
// it with a new tx), a refused tx's payload is discarded at once, and
// member peers are served only payloads a committed, unerased record
// commits to.
func TestManagerErasedStaysErasedAndServesCommittedOnly(t *testing.T) {
	r := newRig(t, true, nil)
	marker := []byte("PLANTED-MARKER-resend")
	c1, p1 := newPayload(t, append([]byte("birth certificate of B "), marker...))
	if err := r.m.Accept(c1, p1); err != nil {
		t.Fatal(err)
	}
	// Pending: held, but not served to peers.
	if got := r.m.Payloads([][]byte{c1}); len(got) != 0 {
		t.Fatalf("a pending payload was served: %v", got)
	}
	r.chain.version(protectedType, "rb", 1, c1)
	r.chain.state.Apply([]exec.Change{{Key: exec.ProtectedCommitmentKey(c1), Value: []byte("rb")}})
	r.chain.commit(recEvent(protectedType, "rb", actionCreated, 1))
	r.run()
	r.caughtUp()
	if got := r.m.Payloads([][]byte{c1}); len(got) != 1 {
		t.Fatalf("a committed payload was not served: %v", got)
	}
	r.chain.eraseInState("rb", 3)
	// Erased in state, not yet processed here: no longer served.
	if got := r.m.Payloads([][]byte{c1}); len(got) != 0 {
		t.Fatalf("a payload erased in state was served: %v", got)
	}
	h := r.chain.commit(recEvent(protectedType, "rb", actionErased, 1))
	eventually(t, 60*time.Second, "rb erased", func() bool { return r.m.Stats().Cursor >= h })
	if err := r.m.Accept(c1, p1); !errors.Is(err, ErrErased) {
		t.Fatalf("Accept of an erased payload: %v, want ErrErased", err)
	}
	if hits := filesContaining(t, r.dir, marker); len(hits) != 0 {
		t.Fatalf("the erased payload is back on disk in %v", hits)
	}

	// A payload accepted for a tx the node then refused is deleted at once.
	c2, p2 := newPayload(t, []byte("refused tx's content PLANTED-MARKER-refused"))
	if err := r.m.Accept(c2, p2); err != nil {
		t.Fatal(err)
	}
	before := r.m.Stats().Pending
	if err := r.m.Discard(c2); err != nil {
		t.Fatal(err)
	}
	if r.has(c2) || r.m.Stats().Pending != before-1 {
		t.Fatalf("Discard: held %v, pending %d (was %d)", r.has(c2), r.m.Stats().Pending, before)
	}
	if hits := filesContaining(t, r.dir, []byte("PLANTED-MARKER-refused")); len(hits) != 0 {
		t.Fatalf("the discarded payload is on disk in %v", hits)
	}
	if err := r.m.Discard(c2); err != nil {
		t.Fatalf("Discard of a payload not held: %v", err)
	}
}

// The events of a block handed over at commit (Committed) are processed
// without reading the block's results back from the ledger; a height
// committed without them (a restart, a lagging cursor) is read from it.
func TestManagerTakesCommittedEventsFromMemory(t *testing.T) {
	r := newRig(t, true, nil)
	c1, p1 := newPayload(t, []byte("birth certificate of A"))
	c2, p2 := newPayload(t, []byte("birth certificate of B"))
	r.peers.hold(c1, p1)
	r.peers.hold(c2, p2)
	r.chain.version(protectedType, "r1", 1, c1)
	h1 := r.chain.commit(recEvent(protectedType, "r1", actionCreated, 1)) // before the listener: from the ledger
	r.chain.onCommit = r.m.Committed
	r.run()
	r.caughtUp()
	r.chain.version(protectedType, "r2", 1, c2)
	h2 := r.chain.commit(recEvent(protectedType, "r2", actionCreated, 1))
	eventually(t, 10*time.Second, "both payloads fetched", func() bool { return r.has(c1) && r.has(c2) })
	r.chain.mu.Lock()
	reads1, reads2 := r.chain.reads[h1], r.chain.reads[h2]
	r.chain.mu.Unlock()
	if reads1 == 0 || reads2 != 0 {
		t.Fatalf("ledger reads of the results: height %d %d times, height %d %d times; want the first read, the second from memory", h1, reads1, h2, reads2)
	}
}
