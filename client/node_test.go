package client_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/client"
	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/genesis"
	"github.com/govnode/govnode/keystore"
	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/node/nodetest"
	"github.com/govnode/govnode/node/tlscert"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

func signerOf(t *testing.T, a *nodetest.Account) *client.Signer {
	t.Helper()
	s, err := client.LoadSigner(a.ID, a.KeyFile, "")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func anchorOf(t *testing.T, c *nodetest.Chain) *client.Anchor {
	t.Helper()
	a, err := client.NewAnchor(c.Genesis, "test chain "+c.ChainID)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// Submit, wait and read back with proofs on a real node; then every way a
// proof check must fail: another chain's genesis, a genesis that does not
// hash to the trusted hash, an object changed after the proof, no anchor.
func TestSubmitAndVerifyOnNode(t *testing.T) {
	chain := nodetest.NewChain(t, nodetest.Options{})
	n := chain.Start(t)
	ctx := testCtx(t)
	c, err := client.Dial(n.APIAddr())
	if err != nil {
		t.Fatal(err)
	}
	off := signerOf(t, chain.Official)
	r, err := c.Submit(ctx, off, client.MustTx(&pb.CreateRecord{RecordId: "lt-1", RecordType: nodetest.LandTitle, SubjectId: "citizen0", Content: []byte("parcel")}),
		client.SubmitOptions{Wait: true})
	if err != nil || r.Err() != nil || !r.Committed || r.Nonce != 1 {
		t.Fatalf("submit: %+v %v", r, err)
	}
	if string(r.NodeTxHash) != string(r.TxHash) {
		t.Fatalf("node hash %x, computed %x", r.NodeTxHash, r.TxHash)
	}
	got, err := c.GetTx(ctx, r.TxHash)
	if err != nil || got.GetHeight() != r.Height {
		t.Fatalf("GetTx: %v %v", got, err)
	}
	// The second tx takes the next nonce from the cache.
	r2, err := c.Submit(ctx, off, client.MustTx(&pb.AmendRecord{RecordId: "lt-1", ExpectedVersion: 1, Content: []byte("parcel, amended"), Reason: "survey"}),
		client.SubmitOptions{Wait: true})
	if err != nil || r2.Err() != nil || r2.Nonce != 2 {
		t.Fatalf("amend: %+v %v", r2, err)
	}

	a := anchorOf(t, chain)
	m, p, err := c.VerifiedRecord(ctx, a, &pb.QueryRecordRequest{RecordId: "lt-1"})
	if err != nil || !p.Anchored || !p.Present || m.GetRecord().GetVersion() != 2 || p.StateHeight < r2.Height {
		t.Fatalf("VerifiedRecord: %v %+v %v", m, p, err)
	}
	// Absence is proven too.
	st, p, err := c.VerifiedState(ctx, a, exec.RecordKey("lt-404"), 0)
	if err != nil || st.GetFound() || p.Present {
		t.Fatalf("absent key: %v %+v %v", st, p, err)
	}
	if _, _, err := c.VerifiedIdentity(ctx, a, "citizen0", 0); err != nil {
		t.Fatalf("VerifiedIdentity: %v", err)
	}
	doc, err := genesis.Marshal(chain.Genesis)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := genesis.Hash(chain.Genesis)
	if _, rep, err := c.VerifyRecordBundle(ctx, "lt-1", 0, h); err != nil || len(rep.Versions) != 2 {
		t.Fatalf("bundle: %v %v", rep, err)
	}

	// Another chain's genesis: the header is not of its chain.
	other := anchorOf(t, nodetest.NewChain(t, nodetest.Options{ChainID: "other", Seed: 9}))
	if _, _, err := c.VerifiedRecord(ctx, other, &pb.QueryRecordRequest{RecordId: "lt-1"}); !errors.Is(err, client.ErrProof) || !strings.Contains(err.Error(), "chain") {
		t.Fatalf("another chain's anchor: %v", err)
	}
	// Same chain id, other validators (a forged genesis): the certificate
	// is not signed by the anchor's set.
	forged := nodetest.NewChain(t, nodetest.Options{Seed: 7})
	if _, _, err := c.VerifiedRecord(ctx, anchorOf(t, forged), &pb.QueryRecordRequest{RecordId: "lt-1"}); !errors.Is(err, client.ErrProof) {
		t.Fatalf("forged genesis: %v", err)
	}
	if _, rep, err := c.VerifyRecordBundle(ctx, "lt-1", 0, crypto.Ed25519SHA256.Hash([]byte("not the genesis"))); err == nil || rep.OK {
		t.Fatal("a bundle verified against the wrong genesis hash")
	}
	// A genesis document is trusted only under its hash.
	if _, err := client.AnchorFromGenesis(doc, h); err != nil {
		t.Fatalf("AnchorFromGenesis: %v", err)
	}
	if _, err := client.AnchorFromGenesis(doc, crypto.Ed25519SHA256.Hash([]byte("x"))); !errors.Is(err, client.ErrProof) {
		t.Fatalf("a genesis under the wrong hash: %v", err)
	}
	if _, err := client.AnchorFromGenesis([]byte("{"), h); err == nil {
		t.Fatal("a broken genesis accepted")
	}
	if _, _, err := c.VerifiedRecord(ctx, nil, &pb.QueryRecordRequest{RecordId: "lt-1"}); !errors.Is(err, client.ErrNoAnchor) {
		t.Fatalf("no anchor: %v", err)
	}
	// A node that returns an object other than the proven one is caught.
	raw, err := c.QueryRecord(ctx, &pb.QueryRecordRequest{RecordId: "lt-1", Prove: true})
	if err != nil {
		t.Fatal(err)
	}
	tampered := proto.Clone(raw.GetRecord()).(*pb.Record)
	tampered.HolderId = "citizen1"
	if _, err := client.VerifyObject(raw.GetProof(), exec.RecordKey("lt-1"), tampered, chain.ChainID, crypto.Ed25519SHA256, a); !errors.Is(err, client.ErrProof) {
		t.Fatalf("tampered object: %v", err)
	}
	// A proof moved to another key fails the tree check.
	if _, err := client.VerifyObject(raw.GetProof(), exec.RecordKey("lt-2"), raw.GetRecord(), chain.ChainID, crypto.Ed25519SHA256, a); !errors.Is(err, client.ErrProof) {
		t.Fatalf("proof for another key: %v", err)
	}
	if _, err := client.VerifyStateProof(nil, nil, nil, chain.ChainID, crypto.Ed25519SHA256, a); !errors.Is(err, client.ErrProof) {
		t.Fatalf("no proof: %v", err)
	}
}

// The node refuses a tx the signer may not send (a citizen issuing a
// record): Submit returns the refusal, a *CallError with the node's code,
// and the nonce it used is not counted.
func TestRefusedTxOnNode(t *testing.T) {
	chain := nodetest.NewChain(t, nodetest.Options{})
	n := chain.Start(t)
	ctx := testCtx(t)
	c, _ := client.Dial(n.URL)
	cit := signerOf(t, chain.Citizens[0])
	_, err := c.Submit(ctx, cit, client.MustTx(&pb.CreateRecord{RecordId: "x-1", RecordType: nodetest.LandTitle, SubjectId: "citizen0", Content: []byte("x")}), client.SubmitOptions{Wait: true})
	var ce *client.CallError
	if !errors.As(err, &ce) || connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("citizen's record: %v", err)
	}
	if next, err := c.NextNonce(ctx, cit.ID); err != nil || next != 1 {
		t.Fatalf("next nonce after a refusal: %d %v", next, err)
	}
	// A committed tx whose action fails: a receipt whose Err says so.
	off := signerOf(t, chain.Official)
	r, err := c.Submit(ctx, off, client.MustTx(&pb.AmendRecord{RecordId: "nope", ExpectedVersion: 1, Content: []byte("x"), Reason: "r"}), client.SubmitOptions{Wait: true})
	if err == nil && r.Err() == nil {
		t.Fatal("an amendment of an unknown record went through")
	}
	// A wrong-chain tx: signed for another chain id, refused.
	body := client.MustTx(&pb.RevokeRecord{RecordId: "x", Reason: "r"})
	body.ChainId, body.Signer, body.Nonce = "other-chain", off.ID, 1
	stx, err := client.Sign(off.Key, body)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send(ctx, stx, client.SubmitOptions{}); err == nil {
		t.Fatal("a tx of another chain was admitted")
	}
}

// A protected record: the content travels beside the tx, the record on
// chain holds its commitment; an erased record cannot be amended.
func TestProtectedRecordOnNode(t *testing.T) {
	chain := nodetest.NewChain(t, nodetest.Options{})
	n := chain.Start(t)
	ctx := testCtx(t)
	c, _ := client.Dial(n.URL)
	off := signerOf(t, chain.Official)
	body := client.MustTx(&pb.CreateRecord{RecordId: "bc-1", RecordType: nodetest.BirthCert, SubjectId: "citizen0", Content: []byte("Ada")})
	stx, err := c.Prepare(ctx, off, body, client.SubmitOptions{})
	if err != nil || len(stx.Payloads) != 1 {
		t.Fatalf("prepare: %v, %v", stx, err)
	}
	r, err := c.Send(ctx, stx, client.SubmitOptions{Wait: true})
	if err != nil || r.Err() != nil || len(r.Payloads) != 1 {
		t.Fatalf("protected create: %+v %v", r, err)
	}
	// A content a node releases is checked against its version's
	// content_hash, read from committed state (and proven, when asked).
	released := &pb.RecordContent{RecordId: "bc-1", Version: 1, Payload: stx.Payloads[0]}
	for _, o := range []client.ContentOptions{{}, {Prove: true, Anchor: anchorOf(t, chain)}} {
		k := c.NewContentChecker(o)
		if h, err := k.Check(ctx, released); err != nil || string(h) != string(r.Payloads[0]) {
			t.Fatalf("released content (prove %v): %x, %v", o.Prove, h, err)
		}
		forged := proto.Clone(released).(*pb.RecordContent)
		forged.Payload.Content = []byte("Mallory")
		if _, err := k.Check(ctx, forged); err == nil || !strings.Contains(err.Error(), "does NOT match") {
			t.Fatalf("forged content: %v", err)
		}
		if _, err := k.Check(ctx, &pb.RecordContent{RecordId: "bc-1", Version: 2, Payload: stx.Payloads[0]}); err == nil || !strings.Contains(err.Error(), "does not have") {
			t.Fatalf("content of a version the chain does not have: %v", err)
		}
	}
	if cr := body.GetCreateRecord(); len(cr.GetContent()) != 0 || string(cr.GetContentHash()) != string(r.Payloads[0]) {
		t.Fatalf("the tx carries content %q, hash %x; want none and the commitment %x", cr.GetContent(), cr.GetContentHash(), r.Payloads[0])
	}
	// A content hash given for a protected type is refused before sending.
	_, err = c.Submit(ctx, off, client.MustTx(&pb.CreateRecord{RecordId: "bc-2", RecordType: nodetest.BirthCert, SubjectId: "citizen0", ContentHash: crypto.Ed25519SHA256.Hash([]byte("x"))}), client.SubmitOptions{})
	if !errors.Is(err, client.ErrProtectedContent) {
		t.Fatalf("protected with a hash: %v", err)
	}
	// Content of an unknown type is never sent.
	if _, err := c.Submit(ctx, off, client.MustTx(&pb.CreateRecord{RecordId: "p-1", RecordType: "passport", SubjectId: "citizen0", Content: []byte("x")}), client.SubmitOptions{}); err == nil || !strings.Contains(err.Error(), "not on the chain") {
		t.Fatalf("unknown type: %v", err)
	}
	if _, err := c.Submit(ctx, off, client.MustTx(&pb.EraseRecordContent{RecordId: "bc-1", Reason: "court order"}), client.SubmitOptions{Wait: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Submit(ctx, off, client.MustTx(&pb.AmendRecord{RecordId: "bc-1", ExpectedVersion: 1, Content: []byte("Bob"), Reason: "x"}), client.SubmitOptions{}); err == nil || !strings.Contains(err.Error(), "cannot be amended") {
		t.Fatalf("amend of an erased record: %v", err)
	}
}

// cutProxy forwards TCP to a node and can cut every connection at once:
// a node's connection dropping mid-stream, as a restart or a network
// failure drops it.
type cutProxy struct {
	ln    net.Listener
	to    string
	mu    sync.Mutex
	conns []net.Conn
}

func newCutProxy(t *testing.T, to string) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, to: to}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", to)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
	return p
}

func (p *cutProxy) cut() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.conns)
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
	return n
}

// Follow on a real node through connections that are cut while blocks
// commit: every height from 1 to the last is delivered exactly once, in
// order, and Follow says where it resumed.
func TestFollowResumeAfterDisconnectOnNode(t *testing.T) {
	chain := nodetest.NewChain(t, nodetest.Options{})
	n := chain.Start(t)
	ctx := testCtx(t)
	proxy := newCutProxy(t, n.APIAddr())
	c, _ := client.Dial(proxy.ln.Addr().String())
	direct, _ := client.Dial(n.URL)
	off := signerOf(t, chain.Official)

	const records = 6
	var last uint64
	var resumes int
	var mu sync.Mutex
	o := client.FollowOptions{MinBackoff: 10 * time.Millisecond, OnReconnect: func(error, uint64, time.Duration) {
		mu.Lock()
		resumes++
		mu.Unlock()
	}}
	submitted := make(chan uint64, 1)
	go func() {
		var h uint64
		for i := range records {
			r, err := direct.Submit(ctx, off, client.MustTx(&pb.CreateRecord{RecordId: "f-" + string(rune('a'+i)), RecordType: nodetest.LandTitle, SubjectId: "citizen0", Content: []byte("x")}),
				client.SubmitOptions{Wait: true})
			if err != nil {
				t.Errorf("submit: %v", err)
				break
			}
			h = r.Height
			proxy.cut() // the stream breaks after each commit
		}
		submitted <- h
	}()
	created := map[string]int{}
	var top uint64
	for blk, err := range c.Follow(ctx, &pb.StreamEventsRequest{FromHeight: 1}, o) {
		if err != nil {
			t.Fatal(err)
		}
		if blk.GetHeight() != last+1 {
			t.Fatalf("delivered height %d after %d", blk.GetHeight(), last)
		}
		last = blk.GetHeight()
		for _, e := range blk.GetEvents() {
			if e.GetRecord().GetAction() == "created" {
				created[e.GetRecord().GetRecordId()]++
			}
		}
		if top == 0 {
			select {
			case top = <-submitted:
			default:
			}
		}
		if top != 0 && last >= top {
			break
		}
	}
	if len(created) != records {
		t.Fatalf("saw %d created records, want %d: %v", len(created), records, created)
	}
	for id, k := range created {
		if k != 1 {
			t.Fatalf("record %s delivered %d times", id, k)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if resumes == 0 {
		t.Fatal("the stream was never cut: the test proves nothing")
	}
}

// TLS: a node's CA verifies it; a client identity authenticates every
// call; a wrong CA and plain http to the TLS port fail with the reason.
func TestTLSAndIdentityOnNode(t *testing.T) {
	chain := nodetest.NewChain(t, nodetest.Options{TLS: true})
	n := chain.Start(t)
	ctx := testCtx(t)
	ca := filepath.Join(chain.Home, "tls", tlscert.CAFile)
	off := signerOf(t, chain.Official)

	c, err := client.Dial(n.APIAddr(), client.WithCAFile(ca), client.WithIdentity(off))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Authenticated() || !strings.HasPrefix(c.URL(), "https://") {
		t.Fatalf("url %s, authenticated %v", c.URL(), c.Authenticated())
	}
	st, err := c.Status(ctx)
	if err != nil || st.GetCallerId() != off.ID {
		t.Fatalf("status as %s: caller %q, %v", off.ID, st.GetCallerId(), err)
	}
	anon, _ := client.Dial(n.URL, client.WithCAFile(ca))
	if st, err := anon.Status(ctx); err != nil || st.GetCallerId() != "" {
		t.Fatalf("anonymous status: caller %q, %v", st.GetCallerId(), err)
	}
	other := nodetest.NewChain(t, nodetest.Options{TLS: true, Seed: 3})
	other.Config(t) // writes its TLS pair
	wrong, _ := client.Dial(n.URL, client.WithCAFile(filepath.Join(other.Home, "tls", tlscert.CAFile)))
	if _, err := wrong.Status(ctx); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a wrong CA: %v", err)
	}
	plain, _ := client.Dial("http://" + n.APIAddr())
	if _, err := plain.Status(ctx); !errors.Is(err, client.ErrTLSOnly) {
		t.Fatalf("http to a TLS port: %v", err)
	}
	if _, err := client.Dial("http://"+n.APIAddr(), client.WithCAFile(ca)); err == nil {
		t.Fatal("a CA with a plain http URL accepted")
	}
}

// SubmitBatch: consecutive nonces in one request, a result per tx; a
// protected record (whose content SubmitTxs cannot carry) and bounds are
// refused before anything is sent.
func TestSubmitBatchOnNode(t *testing.T) {
	chain := nodetest.NewChain(t, nodetest.Options{})
	n := chain.Start(t)
	ctx := testCtx(t)
	c, _ := client.Dial(n.URL)
	off := signerOf(t, chain.Official)
	var bodies []*pb.TxBody
	for _, id := range []string{"b-1", "b-2", "b-3"} {
		bodies = append(bodies, client.MustTx(&pb.CreateRecord{RecordId: id, RecordType: nodetest.LandTitle, SubjectId: "citizen0", Content: []byte(id)}))
	}
	rs, err := c.SubmitBatch(ctx, off, bodies, client.SubmitOptions{Wait: true})
	if err != nil || len(rs) != 3 {
		t.Fatalf("batch: %v, %v", rs, err)
	}
	for i, r := range rs {
		if r.Err != nil || r.Receipt.Nonce != uint64(i+1) || !r.Receipt.Committed || r.Receipt.Err() != nil {
			t.Fatalf("batch tx %d: %+v %v", i, r.Receipt, r.Err)
		}
	}
	// The cache counts on from the batch.
	if next, err := c.NextNonce(ctx, off.ID); err != nil || next != 4 {
		t.Fatalf("next nonce after the batch: %d, %v", next, err)
	}
	// A duplicate in a batch is refused on its own, the others go in.
	dup := client.MustTx(&pb.CreateRecord{RecordId: "b-1", RecordType: nodetest.LandTitle, SubjectId: "citizen0", Content: []byte("again")})
	rs, err = c.SubmitBatch(ctx, off, []*pb.TxBody{client.MustTx(&pb.CreateRecord{RecordId: "b-4", RecordType: nodetest.LandTitle, SubjectId: "citizen0", Content: []byte("x")}), dup}, client.SubmitOptions{Wait: true})
	if err != nil || rs[0].Err != nil || rs[0].Receipt.Err() != nil {
		t.Fatalf("batch with a duplicate record: %+v, %v", rs, err)
	}
	if rs[1].Err == nil && rs[1].Receipt.Err() == nil {
		t.Fatal("a second record b-1 went through")
	}
	protected := client.MustTx(&pb.CreateRecord{RecordId: "bc-9", RecordType: nodetest.BirthCert, SubjectId: "citizen0", Content: []byte("Ada")})
	if _, err := c.SubmitBatch(ctx, off, []*pb.TxBody{protected}, client.SubmitOptions{}); err == nil || !strings.Contains(err.Error(), "use Submit") {
		t.Fatalf("protected record in a batch: %v", err)
	}
	if _, err := c.SubmitBatch(ctx, off, nil, client.SubmitOptions{}); err == nil {
		t.Fatal("an empty batch accepted")
	}
	if _, err := c.SubmitBatch(ctx, off, make([]*pb.TxBody, client.MaxBatch+1), client.SubmitOptions{}); err == nil {
		t.Fatal("an oversized batch accepted")
	}
}

// A key file encrypted with a passphrase: the right one loads the signer,
// a wrong one is refused.
func TestLoadSignerEncrypted(t *testing.T) {
	s := testSigner(t, "acct0")
	path := filepath.Join(t.TempDir(), "acct0.key")
	if err := keystore.Save(path, s.Key, keystore.Options{Kind: keystore.KindAccount, Passphrase: "correct horse", ScryptWorkFactor: 10}); err != nil {
		t.Fatal(err)
	}
	got, err := client.LoadSigner("acct0", path, "correct horse")
	if err != nil || !crypto.PublicKeyEqual(got.Key.Public(), s.Key.Public()) {
		t.Fatalf("LoadSigner: %v", err)
	}
	if _, err := client.LoadSigner("acct0", path, "wrong"); err == nil {
		t.Fatal("a wrong passphrase was accepted")
	}
	if _, err := client.LoadSigner("acct0", filepath.Join(t.TempDir(), "none.key"), ""); err == nil {
		t.Fatal("a missing key file was accepted")
	}
}

// Concurrent Submits of one signer through one Client (safe for
// concurrent use) take distinct nonces and all go in: each took the same
// cached nonce, and all but one were refused.
func TestConcurrentSubmitsOfOneSigner(t *testing.T) {
	chain := nodetest.NewChain(t, nodetest.Options{})
	n := chain.Start(t)
	ctx := testCtx(t)
	c, err := client.Dial(n.URL)
	if err != nil {
		t.Fatal(err)
	}
	off := signerOf(t, chain.Official)
	for round, warm := range []bool{false, true} { // a cold cache, then a warm one
		const k = 8
		var wg sync.WaitGroup
		receipts := make([]*client.Receipt, k)
		errs := make([]error, k)
		for i := range k {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id := fmt.Sprintf("cc-%d-%d", round, i)
				receipts[i], errs[i] = c.Submit(ctx, off, client.MustTx(&pb.CreateRecord{RecordId: id, RecordType: nodetest.LandTitle, SubjectId: "citizen0", Content: []byte(id)}),
					client.SubmitOptions{Wait: true})
			}()
		}
		wg.Wait()
		seen := map[uint64]bool{}
		for i := range k {
			if errs[i] != nil {
				t.Fatalf("round %d (warm cache %v), submit %d: %v", round, warm, i, errs[i])
			}
			if err := receipts[i].Err(); err != nil {
				t.Fatalf("round %d (warm cache %v), submit %d: %v", round, warm, i, err)
			}
			if seen[receipts[i].Nonce] {
				t.Fatalf("nonce %d taken twice", receipts[i].Nonce)
			}
			seen[receipts[i].Nonce] = true
		}
	}
	if next, err := c.CommittedNextNonce(ctx, off.ID); err != nil || next != 17 {
		t.Fatalf("committed next nonce %d (%v), want 17", next, err)
	}
}

// A refused tx gives its nonce back: the next Submit takes it, with no
// gap that would hold it in the node's queue.
func TestRefusedTxGivesItsNonceBack(t *testing.T) {
	chain := nodetest.NewChain(t, nodetest.Options{})
	n := chain.Start(t)
	ctx := testCtx(t)
	c, _ := client.Dial(n.URL)
	off := signerOf(t, chain.Official)
	if _, err := c.Submit(ctx, off, client.MustTx(&pb.CreateRecord{RecordId: "rn-1", RecordType: nodetest.LandTitle, SubjectId: "citizen0", Content: []byte("a")}),
		client.SubmitOptions{Wait: true}); err != nil {
		t.Fatal(err)
	}
	// Refused at admission: a record type the chain does not know.
	if _, err := c.Submit(ctx, off, client.MustTx(&pb.CreateRecord{RecordId: "rn-2", RecordType: "no_such_type", SubjectId: "citizen0", Content: []byte("b")}),
		client.SubmitOptions{Wait: true}); err == nil {
		t.Skip("the node admits a record of an unknown type; the refusal this test needs is another")
	} else {
		t.Log(err)
	}
	// Refused by the node: a malformed record id.
	if _, err := c.Submit(ctx, off, client.MustTx(&pb.CreateRecord{RecordId: "Bad Id", RecordType: nodetest.LandTitle, SubjectId: "citizen0", Content: []byte("b")}),
		client.SubmitOptions{Wait: true}); connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("a malformed record id: %v", err)
	}
	r, err := c.Submit(ctx, off, client.MustTx(&pb.CreateRecord{RecordId: "rn-3", RecordType: nodetest.LandTitle, SubjectId: "citizen0", Content: []byte("c")}),
		client.SubmitOptions{Wait: true, WaitTimeout: 5 * time.Second})
	if err != nil || r.Err() != nil || r.Nonce != 2 {
		t.Fatalf("after a refusal: %+v %v", r, err)
	}
}
