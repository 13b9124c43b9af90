package client_test

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/govnode/govnode/client"
	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func testSigner(t *testing.T, id string) *client.Signer {
	t.Helper()
	k, err := crypto.GenerateKey(pb.KeyScheme_KEY_SCHEME_ED25519, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := client.NewSigner(id, k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDialBadAddress(t *testing.T) {
	for _, addr := range []string{"", "   ", "ftp://host:1", "http://", "host", "host:0", "host:65536", "host:port", "https://%zz"} {
		if _, err := client.Dial(addr); err == nil {
			t.Errorf("Dial(%q) succeeded", addr)
		}
	}
	for addr, want := range map[string]string{
		"127.0.0.1:9":       "http://127.0.0.1:9",
		"0.0.0.0:9":         "http://127.0.0.1:9",
		":9":                "http://127.0.0.1:9",
		"https://node.gov/": "https://node.gov",
	} {
		c, err := client.Dial(addr)
		if err != nil || c.URL() != want {
			t.Errorf("Dial(%q) = %v, %v; want URL %s", addr, c, err, want)
		}
	}
}

func TestDialOptionsRefuseNonsense(t *testing.T) {
	for name, opt := range map[string]client.Option{
		"empty CA":     client.WithCAFile(""),
		"nil pool":     client.WithCAPool(nil),
		"no identity":  client.WithIdentity(nil),
		"neg timeout":  client.WithTimeout(-time.Second),
		"zero conns":   client.WithMaxConns(0),
		"neg retries":  client.WithRetries(-1),
		"lots retries": client.WithRetries(1000),
		"nil hc":       client.WithHTTPClient(nil),
		"nil certs":    client.WithClientCertificate(nil),
	} {
		if _, err := client.Dial("127.0.0.1:1", opt); err == nil {
			t.Errorf("%s: Dial succeeded", name)
		}
	}
	// A caller's own HTTP client carries its own TLS: no CA or certificate.
	if _, err := client.Dial("127.0.0.1:1", client.WithHTTPClient(http.DefaultClient), client.WithCAPool(x509.NewCertPool())); err == nil {
		t.Error("an HTTP client with a CA pool accepted")
	}
	s := testSigner(t, "acct0")
	if _, err := client.Dial("https://127.0.0.1:1", client.WithIdentity(s), client.WithClientCertificate(client.ClientCertSource(s.Key, s.ID))); err == nil {
		t.Error("an identity and a certificate source accepted together")
	}
	if _, err := client.AnchorFromSet("c", nil, []*pb.PublicKey{s.Key.Public()}, "optimistic", "x"); err == nil {
		t.Error("an unknown fault model accepted")
	}
	if _, err := client.AnchorFromSet("c", nil, nil, "crash", "x"); err == nil {
		t.Error("an empty validator set accepted")
	}
}

func TestDialBadCA(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.txt")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	huge := filepath.Join(dir, "huge.pem")
	if err := os.WriteFile(huge, make([]byte, client.MaxCAFileBytes+1), 0o600); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		filepath.Join(dir, "missing.pem"): "no such file",
		notPEM:                            "no PEM certificate",
		huge:                              "not a CA certificate file",
	} {
		_, err := client.Dial("127.0.0.1:1", client.WithCAFile(path))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CA %s: %v, want an error with %q", filepath.Base(path), err, want)
		}
	}
}

// A node that is down answers unavailable, as a *CallError naming the call
// and the node.
func TestCallErrorOfDownNode(t *testing.T) {
	f := &fakeNode{}
	url := f.start(t)
	c, err := client.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	c2, _ := client.Dial("127.0.0.1:1", client.WithTimeout(2*time.Second))
	_, err = c2.Status(testCtx(t))
	var ce *client.CallError
	if !errors.As(err, &ce) || ce.Op != "status" || ce.URL != "http://127.0.0.1:1" || connect.CodeOf(err) != connect.CodeUnavailable {
		t.Fatalf("status of a closed port: %v", err)
	}
	if _, err := c.Status(testCtx(t)); err != nil {
		t.Fatal(err)
	}
}

// A submission refused past the node's backlog bound is sent again after
// the node's hint, from RetryInfo or the headers; a refusal without a
// hint, or with retries off, is returned at once.
func TestRetryHonoursHint(t *testing.T) {
	withInfo := func(d time.Duration) error {
		ce := connect.NewError(connect.CodeResourceExhausted, errors.New("backlog"))
		det, err := connect.NewErrorDetail(&errdetails.RetryInfo{RetryDelay: durationpb.New(d)})
		if err != nil {
			t.Fatal(err)
		}
		ce.AddDetail(det)
		return ce
	}
	withHeader := func(ms string) error {
		ce := connect.NewError(connect.CodeResourceExhausted, errors.New("rate limited"))
		ce.Meta().Set("Govnode-Retry-After-Ms", ms)
		return ce
	}
	s := testSigner(t, "acct0")
	for _, tc := range []struct {
		name      string
		errs      []error
		opts      []client.Option
		wantCalls int
		wantErr   bool
		minWait   time.Duration
	}{
		{"RetryInfo", []error{withInfo(60 * time.Millisecond), withInfo(60 * time.Millisecond)}, nil, 3, false, 120 * time.Millisecond},
		{"header", []error{withHeader("80")}, nil, 2, false, 80 * time.Millisecond},
		{"no hint", []error{connect.NewError(connect.CodeResourceExhausted, errors.New("mempool full"))}, nil, 1, true, 0},
		{"retries off", []error{withInfo(10 * time.Millisecond)}, []client.Option{client.WithRetries(0)}, 1, true, 0},
		{"too many", []error{withInfo(time.Millisecond), withInfo(time.Millisecond), withInfo(time.Millisecond)}, []client.Option{client.WithRetries(2)}, 3, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeNode{submitErr: tc.errs}
			c, err := client.Dial(f.start(t), tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, err = c.Submit(testCtx(t), s, client.MustTx(&pb.RevokeRecord{RecordId: "r1", Reason: "x"}), client.SubmitOptions{})
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr && connect.CodeOf(err) != connect.CodeResourceExhausted {
				t.Fatalf("err = %v, want resource_exhausted", err)
			}
			if got := len(f.submitted()); got != tc.wantCalls {
				t.Fatalf("%d calls, want %d", got, tc.wantCalls)
			}
			if el := time.Since(start); el < tc.minWait {
				t.Fatalf("retried after %s, the hint says %s", el, tc.minWait)
			}
		})
	}
}

// The retry never outlives the caller's deadline: a hint past it is not
// waited for.
func TestRetryHintPastDeadline(t *testing.T) {
	ce := connect.NewError(connect.CodeResourceExhausted, errors.New("backlog"))
	ce.Meta().Set("Govnode-Retry-After-Ms", "30000")
	f := &fakeNode{submitErr: []error{ce}}
	c, _ := client.Dial(f.start(t))
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	_, err := c.Submit(ctx, testSigner(t, "acct0"), client.MustTx(&pb.RevokeRecord{RecordId: "r1", Reason: "x"}), client.SubmitOptions{})
	if connect.CodeOf(err) != connect.CodeResourceExhausted || time.Since(start) > 900*time.Millisecond {
		t.Fatalf("err %v after %s", err, time.Since(start))
	}
}

func decodeBody(t *testing.T, req *pb.SubmitTxRequest) *pb.TxBody {
	t.Helper()
	b, err := client.DecodeTx(req.GetTx())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The nonce cache: the first Submit reads the committed nonce, the next
// ones count on from it without a read; when another client of the same
// signer used the cached nonce, the node's refusal makes Submit read the
// nonce again and send once more. An explicit nonce is never replaced.
func TestSubmitNonceResync(t *testing.T) {
	f := &fakeNode{lastNonce: 3}
	c, err := client.Dial(f.start(t))
	if err != nil {
		t.Fatal(err)
	}
	s := testSigner(t, "acct0")
	ctx := testCtx(t)
	body := func() *pb.TxBody { return client.MustTx(&pb.RevokeRecord{RecordId: "r1", Reason: "x"}) }
	for want := uint64(4); want <= 5; want++ {
		r, err := c.Submit(ctx, s, body(), client.SubmitOptions{})
		if err != nil || r.Nonce != want || r.ChainID != "fake" || r.Signer != "acct0" || r.Action != "revoke_record" {
			t.Fatalf("submit: %+v, %v; want nonce %d", r, err, want)
		}
	}
	// Another client sent nonces 6 to 9: this client's 6 is refused, then
	// it reads 9 and sends 10.
	f.mu.Lock()
	f.lastNonce = 9
	f.submitErr = []error{connect.NewError(connect.CodeFailedPrecondition, errors.New("nonce already used"))}
	f.mu.Unlock()
	r, err := c.Submit(ctx, s, body(), client.SubmitOptions{})
	if err != nil || r.Nonce != 10 {
		t.Fatalf("after a nonce refusal: %+v, %v; want nonce 10", r, err)
	}
	subs := f.submitted()
	if n := decodeBody(t, subs[len(subs)-2]).GetNonce(); n != 6 {
		t.Fatalf("refused tx had nonce %d, want 6", n)
	}
	// An explicit nonce is the caller's: refused, it is not replaced.
	f.mu.Lock()
	f.submitErr = []error{connect.NewError(connect.CodeFailedPrecondition, errors.New("nonce already used"))}
	f.mu.Unlock()
	before := len(f.submitted())
	if _, err := c.Submit(ctx, s, body(), client.SubmitOptions{Nonce: 2}); connect.CodeOf(err) != connect.CodeFailedPrecondition {
		t.Fatalf("explicit stale nonce: %v", err)
	}
	if got := len(f.submitted()) - before; got != 1 {
		t.Fatalf("explicit nonce sent %d times, want once", got)
	}
}

// Submit refuses what it cannot sign before any call.
func TestSubmitRefusesBadInput(t *testing.T) {
	f := &fakeNode{}
	c, _ := client.Dial(f.start(t))
	ctx := testCtx(t)
	s := testSigner(t, "acct0")
	if _, err := c.Submit(ctx, s, &pb.TxBody{}, client.SubmitOptions{}); err == nil {
		t.Error("a body without an action was submitted")
	}
	if _, err := c.Submit(ctx, nil, client.MustTx(&pb.RevokeRecord{RecordId: "r"}), client.SubmitOptions{}); err == nil {
		t.Error("no signer accepted")
	}
	if _, err := c.Submit(ctx, &client.Signer{ID: "bad id!", Key: s.Key}, client.MustTx(&pb.RevokeRecord{RecordId: "r"}), client.SubmitOptions{}); err == nil {
		t.Error("a bad signer id accepted")
	}
	if _, err := client.NewSigner("", s.Key); err == nil {
		t.Error("NewSigner accepted an empty id")
	}
	if _, err := client.Tx(&pb.Record{}); err == nil {
		t.Error("Tx accepted a message that is no action")
	}
	if n := len(f.submitted()); n != 0 {
		t.Fatalf("%d submissions reached the node", n)
	}
}

// Every action of the TxBody oneof can be wrapped by Tx.
func TestTxWrapsEveryAction(t *testing.T) {
	od := (&pb.TxBody{}).ProtoReflect().Descriptor().Oneofs().ByName("action")
	for i := range od.Fields().Len() {
		fd := od.Fields().Get(i)
		m := (&pb.TxBody{}).ProtoReflect().NewField(fd).Message().Interface()
		b, err := client.Tx(m)
		if err != nil || client.ActionName(b) != string(fd.Name()) {
			t.Errorf("Tx(%s) = %v, %v", fd.Message().FullName(), client.ActionName(b), err)
		}
		if !proto.Equal(b.ProtoReflect().Get(fd).Message().Interface(), m) {
			t.Errorf("Tx(%s) changed the action", fd.Name())
		}
	}
}

// Follow over a stream that breaks: it resumes at the block after the last
// one delivered, drops a block the node sends again, and delivers every
// height once, in order. A refusal of the request ends it with a
// FollowError naming the height to resume at.
func TestFollowResumesAfterBreak(t *testing.T) {
	f := &fakeNode{}
	f.stream = func(ctx context.Context, req *pb.StreamEventsRequest, s *connect.ServerStream[pb.StreamEventsResponse]) error {
		from := req.GetFromHeight()
		switch {
		case from == 1: // 1..3, then the connection breaks
			for h := uint64(1); h <= 3; h++ {
				if err := s.Send(&pb.StreamEventsResponse{Height: h}); err != nil {
					return err
				}
			}
			return connect.NewError(connect.CodeUnavailable, errors.New("node going away"))
		case from == 4: // resends 3 (a resume may overlap), then 4..6, then ends
			for h := uint64(3); h <= 6; h++ {
				if err := s.Send(&pb.StreamEventsResponse{Height: h}); err != nil {
					return err
				}
			}
			return nil
		case from == 7:
			return connect.NewError(connect.CodeOutOfRange, errors.New("height 7 is in the future of a halted chain"))
		}
		return connect.NewError(connect.CodeInternal, errors.New("unexpected from"))
	}
	c, _ := client.Dial(f.start(t))
	var got []uint64
	var resumes []uint64
	var final error
	o := client.FollowOptions{MinBackoff: time.Millisecond, OnReconnect: func(err error, next uint64, wait time.Duration) { resumes = append(resumes, next) }}
	for blk, err := range c.Follow(testCtx(t), &pb.StreamEventsRequest{FromHeight: 1, RecordTypes: []string{"land_title"}}, o) {
		if err != nil {
			final = err
			continue
		}
		got = append(got, blk.GetHeight())
	}
	if want := []uint64{1, 2, 3, 4, 5, 6}; !equalU64(got, want) {
		t.Fatalf("delivered %v, want %v", got, want)
	}
	if want := []uint64{4, 7}; !equalU64(resumes, want) {
		t.Fatalf("resumed at %v, want %v", resumes, want)
	}
	var fe *client.FollowError
	if !errors.As(final, &fe) || fe.Next != 7 || connect.CodeOf(final) != connect.CodeOutOfRange {
		t.Fatalf("final error %v, want a FollowError at 7 with out_of_range", final)
	}
	for _, r := range f.streams {
		if len(r.GetRecordTypes()) != 1 {
			t.Fatalf("a resumed request lost its filter: %v", r)
		}
	}
	// NoReconnect: the first break ends it.
	got = nil
	for blk, err := range c.Follow(testCtx(t), &pb.StreamEventsRequest{FromHeight: 1}, client.FollowOptions{NoReconnect: true}) {
		if err != nil {
			if !errors.As(err, &fe) || fe.Next != 4 {
				t.Fatalf("NoReconnect: %v", err)
			}
			continue
		}
		got = append(got, blk.GetHeight())
	}
	if !equalU64(got, []uint64{1, 2, 3}) {
		t.Fatalf("NoReconnect delivered %v", got)
	}
}

// Stopping the loop ends the stream at once; cancelling the context ends
// Follow silently, even while it waits to reconnect.
func TestFollowStops(t *testing.T) {
	f := &fakeNode{}
	f.stream = func(ctx context.Context, req *pb.StreamEventsRequest, s *connect.ServerStream[pb.StreamEventsResponse]) error {
		if req.GetFromHeight() > 1 {
			return connect.NewError(connect.CodeUnavailable, errors.New("down"))
		}
		if err := s.Send(&pb.StreamEventsResponse{Height: 1}); err != nil {
			return err
		}
		<-ctx.Done()
		return ctx.Err()
	}
	c, _ := client.Dial(f.start(t))
	for blk := range c.Follow(testCtx(t), &pb.StreamEventsRequest{FromHeight: 1}, client.FollowOptions{}) {
		if blk.GetHeight() != 1 {
			t.Fatalf("got height %d", blk.GetHeight())
		}
		break
	}
	ctx, cancel := context.WithCancel(testCtx(t))
	n := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, err := range c.Follow(ctx, &pb.StreamEventsRequest{FromHeight: 2}, client.FollowOptions{MinBackoff: time.Hour}) {
			if err != nil {
				t.Errorf("cancelled Follow yielded %v", err)
			}
			n++
		}
	}()
	time.Sleep(50 * time.Millisecond) // let it reach its backoff wait (either way it must end on cancel)
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Follow did not end when its context was cancelled")
	}
	if n != 0 {
		t.Fatalf("yielded %d times", n)
	}
}

func equalU64(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestBaseURL(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{in: "127.0.0.1:26657", want: "http://127.0.0.1:26657"},
		{in: "0.0.0.0:9000", want: "http://127.0.0.1:9000"},
		{in: ":9000", want: "http://127.0.0.1:9000"},
		{in: "https://node.example.gov:443/", want: "https://node.example.gov:443"},
		{in: "localhost", err: "want host:port"},
		{in: "host:99999", err: "bad port"},
		{in: "ftp://x:1", err: "scheme"},
		{in: "", err: "empty"},
	} {
		got, err := client.BaseURL(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("BaseURL(%q) = %q, %v; want error with %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("BaseURL(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestDecodeNonce(t *testing.T) {
	if n, err := client.DecodeNonce("a", false, nil); err != nil || n != 1 {
		t.Errorf("absent nonce: %d, %v; want 1", n, err)
	}
	if n, err := client.DecodeNonce("a", true, binary.BigEndian.AppendUint64(nil, 41)); err != nil || n != 42 {
		t.Errorf("nonce 41: next %d, %v; want 42", n, err)
	}
	if _, err := client.DecodeNonce("a", true, []byte{1, 2}); err == nil {
		t.Error("a 2-byte nonce value was accepted")
	}
}

// A stream request with a bad filter is refused before any call.
func TestFollowRefusesBadRequest(t *testing.T) {
	f := &fakeNode{}
	c, _ := client.Dial(f.start(t))
	many := make([]string, client.MaxStreamFilter+1)
	for i := range many {
		many[i] = "t" + strings.Repeat("x", i%3)
	}
	for name, req := range map[string]*pb.StreamEventsRequest{
		"too many types":     {RecordTypes: many},
		"bad department":     {DepartmentIds: []string{"not an id!"}},
		"content no purpose": {IncludeContent: true, Purpose: "   "},
		"huge purpose":       {IncludeContent: true, Purpose: strings.Repeat("p", 1<<20)},
	} {
		n := 0
		for _, err := range c.Follow(testCtx(t), req, client.FollowOptions{}) {
			var fe *client.FollowError
			if !errors.As(err, &fe) {
				t.Errorf("%s: %v", name, err)
			}
			n++
		}
		if n != 1 {
			t.Errorf("%s: yielded %d times", name, n)
		}
	}
	if len(f.streams) != 0 {
		t.Fatalf("%d bad requests reached the node", len(f.streams))
	}
}

// A node that jumps heights (a block's response missing from the stream)
// is not followed over the gap: Follow asks again from the height it
// expected, so no block's events go unseen.
func TestFollowRefusesAGap(t *testing.T) {
	for _, from := range []uint64{0, 1} { // 0 streams from block 1
		f := &fakeNode{}
		f.stream = func(ctx context.Context, req *pb.StreamEventsRequest, s *connect.ServerStream[pb.StreamEventsResponse]) error {
			send := []uint64{1, 2, 5, 6} // 3 and 4 missing
			switch req.GetFromHeight() {
			case 3:
				send = []uint64{3, 4}
			case 1:
			default:
				return connect.NewError(connect.CodeOutOfRange, errors.New("end of the test"))
			}
			for _, h := range send {
				if err := s.Send(&pb.StreamEventsResponse{Height: h}); err != nil {
					return err
				}
			}
			return nil
		}
		c, _ := client.Dial(f.start(t))
		var got, resumes []uint64
		o := client.FollowOptions{MinBackoff: time.Millisecond, OnReconnect: func(err error, next uint64, wait time.Duration) { resumes = append(resumes, next) }}
		for blk, err := range c.Follow(testCtx(t), &pb.StreamEventsRequest{FromHeight: from}, o) {
			if err != nil {
				continue
			}
			got = append(got, blk.GetHeight())
		}
		want, wantResumes := []uint64{1, 2, 3, 4}, []uint64{3, 5}
		if !equalU64(got, want) || !equalU64(resumes, wantResumes) {
			t.Fatalf("from %d: delivered %v, resumed at %v; want %v, %v", from, got, resumes, want, wantResumes)
		}
	}
}

// WithChainID: transactions are signed for that chain whatever the node
// says, and a node of another chain is refused by Status naming both;
// without it, the node's chain id is taken. A malformed id is refused.
func TestWithChainIDPinsTheChain(t *testing.T) {
	f := &fakeNode{chainID: "other-chain"}
	addr := f.start(t)
	ctx := testCtx(t)
	s := testSigner(t, "acct0")
	body := func() *pb.TxBody { return client.MustTx(&pb.RevokeRecord{RecordId: "r1", Reason: "x"}) }

	loose, _ := client.Dial(addr)
	if r, err := loose.Submit(ctx, s, body(), client.SubmitOptions{}); err != nil || r.ChainID != "other-chain" {
		t.Fatalf("without WithChainID: %+v %v", r, err)
	}
	pinned, err := client.Dial(addr, client.WithChainID("prod-chain"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pinned.Status(ctx); err == nil || !strings.Contains(err.Error(), `"other-chain"`) || !strings.Contains(err.Error(), `"prod-chain"`) {
		t.Fatalf("status of a node of another chain: %v", err)
	}
	r, err := pinned.Submit(ctx, s, body(), client.SubmitOptions{})
	if err != nil || r.ChainID != "prod-chain" {
		t.Fatalf("pinned submit: %+v %v", r, err)
	}
	subs := f.submitted()
	if got := decodeBody(t, subs[len(subs)-1]).GetChainId(); got != "prod-chain" {
		t.Fatalf("pinned client signed for chain %q", got)
	}
	for _, bad := range []string{"", "Bad Chain", strings.Repeat("c", 65)} {
		if _, err := client.Dial(addr, client.WithChainID(bad)); err == nil {
			t.Errorf("WithChainID(%q) accepted", bad)
		}
	}
}

// A Submit that fails on the way (the node down, unavailable) gives its
// nonce back: the next Submit takes it, where each failed one left a gap
// that held every later tx in the node's queue.
func TestFailedSendGivesItsNonceBack(t *testing.T) {
	f := &fakeNode{lastNonce: 3}
	c, _ := client.Dial(f.start(t))
	s := testSigner(t, "acct0")
	ctx := testCtx(t)
	body := func() *pb.TxBody { return client.MustTx(&pb.RevokeRecord{RecordId: "r1", Reason: "x"}) }
	if r, err := c.Submit(ctx, s, body(), client.SubmitOptions{}); err != nil || r.Nonce != 4 {
		t.Fatalf("first submit: %+v %v", r, err)
	}
	f.mu.Lock()
	f.submitErr = []error{connect.NewError(connect.CodeUnavailable, errors.New("node going away")), connect.NewError(connect.CodeUnavailable, errors.New("still away"))}
	f.mu.Unlock()
	for range 2 {
		if _, err := c.Submit(ctx, s, body(), client.SubmitOptions{}); connect.CodeOf(err) != connect.CodeUnavailable {
			t.Fatalf("submit to a node going away: %v", err)
		}
	}
	if r, err := c.Submit(ctx, s, body(), client.SubmitOptions{}); err != nil || r.Nonce != 5 {
		t.Fatalf("submit once the node is back: %+v %v, want nonce 5", r, err)
	}
}
