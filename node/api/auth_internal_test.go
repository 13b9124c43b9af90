package api

// The gate's authentication (auth.go, docs/ARCHITECTURE.md §6
// "Authenticated callers"): each refusal of a presented certificate with
// Unauthenticated and its reason, anonymous callers, a rotated key or a
// suspension refused on the next request of the same connection, and the
// verdict cache following the identity's updated height.

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/store"
	"github.com/govnode/govnode/node/clientcert"
	"github.com/govnode/govnode/node/metrics"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// memState is a committed state of a few identities.
type memState struct {
	mu sync.Mutex
	kv map[string][]byte
}

func (m *memState) Get(key []byte) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.kv[string(key)]
	if !ok {
		return nil, store.ErrNotFound
	}
	return v, nil
}

func (m *memState) Iterate(start, end []byte, fn func(key, value []byte) error) error {
	return nil // the gate reads single keys
}

func (m *memState) put(t *testing.T, idn *pb.Identity) {
	t.Helper()
	b, err := proto.Marshal(idn)
	if err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.kv == nil {
		m.kv = map[string][]byte{}
	}
	m.kv[string(exec.IdentityKey(idn.GetId()))] = b
}

func newKey(t *testing.T) crypto.PrivateKey {
	t.Helper()
	k, err := crypto.GenerateKey(pb.KeyScheme_KEY_SCHEME_ED25519, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func activeIdentity(id string, k crypto.PrivateKey, height uint64) *pb.Identity {
	return &pb.Identity{
		Id: id, Kind: pb.IdentityKind_IDENTITY_KIND_OFFICIAL, DepartmentId: "dept-a",
		PublicKey: k.Public(), Status: pb.IdentityStatus_IDENTITY_STATUS_ACTIVE,
		Roles: []pb.Role{pb.Role_ROLE_ADMIN}, CreatedHeight: 1, UpdatedHeight: height,
	}
}

// certOpts shape a hand-made certificate, for the layouts Issue never
// makes.
type certOpts struct {
	uris      []string
	noEKU     bool
	notBefore time.Time
	notAfter  time.Time
}

// handCert signs a certificate for opts with signer (an identity key).
func handCert(t *testing.T, signer crypto.PrivateKey, o certOpts) *x509.Certificate {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "x"},
		NotBefore: o.notBefore, NotAfter: o.notAfter, KeyUsage: x509.KeyUsageDigitalSignature}
	if !o.noEKU {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	for _, u := range o.uris {
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, pu)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, ed25519.NewKeyFromSeed(signer.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func issue(t *testing.T, k crypto.PrivateKey, id string, now time.Time, ttl time.Duration) *tls.Certificate {
	t.Helper()
	c, err := clientcert.Issue(k, id, now, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// testGate is a gate over st at the clock *now, whose handler reports
// the caller.
func testGate(st exec.Reader, now *time.Time, rl RateLimitConfig) (*gate, *metrics.Metrics) {
	m := metrics.New()
	g := &gate{
		next: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c := CallerFrom(r.Context())
			_ = json.NewEncoder(w).Encode(map[string]any{"id": c.IdentityID, "dept": c.DepartmentID, "addr": c.Addr, "roles": len(c.Roles)})
		}),
		auth:   newAuthenticator(st, 0),
		limits: newLimiter(rl),
		m:      newGateMetrics(m.Registry),
		now:    func() time.Time { return *now },
		errw:   connect.NewErrorWriter(),
	}
	return g, m
}

// connectReq is a Connect unary request from addr, with cert if given.
func connectReq(addr string, cert *x509.Certificate) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/govnode.v1.NodeService/Status", strings.NewReader("{}"))
	r.Header.Set("Content-Type", "application/json")
	r.RemoteAddr = addr
	if cert != nil {
		r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}
	}
	return r
}

type answer struct {
	status int
	code   string
	msg    string
	id     string
	addr   string
	header http.Header
}

func serve(g http.Handler, r *http.Request) answer {
	rec := httptest.NewRecorder()
	g.ServeHTTP(rec, r)
	var body struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		ID      string `json:"id"`
		Addr    string `json:"addr"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	return answer{status: rec.Code, code: body.Code, msg: body.Message, id: body.ID, addr: body.Addr, header: rec.Header()}
}

func TestGateAuthenticates(t *testing.T) {
	now := time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)
	st := &memState{}
	alice, other := newKey(t), newKey(t)
	st.put(t, activeIdentity("alice", alice, 5))
	susp := activeIdentity("sam", newKey(t), 6)
	susp.Status, susp.StatusReason = pb.IdentityStatus_IDENTITY_STATUS_SUSPENDED, "under review"
	st.put(t, susp)
	rev := activeIdentity("rita", newKey(t), 7)
	rev.Status = pb.IdentityStatus_IDENTITY_STATUS_REVOKED
	st.put(t, rev)
	g, _ := testGate(st, &now, RateLimitConfig{})

	t.Run("anonymous", func(t *testing.T) {
		a := serve(g, connectReq("192.0.2.7:4000", nil))
		if a.status != 200 || a.id != "" || a.addr != "192.0.2.7:4000" {
			t.Fatalf("no certificate: %+v, want an anonymous caller with its address", a)
		}
		r := connectReq("192.0.2.7:4000", nil)
		r.TLS = &tls.ConnectionState{} // TLS without a certificate
		if a := serve(g, r); a.status != 200 || a.id != "" {
			t.Fatalf("TLS without a certificate: %+v", a)
		}
	})
	t.Run("authenticated", func(t *testing.T) {
		a := serve(g, connectReq("192.0.2.7:4000", issue(t, alice, "alice", now, time.Hour).Leaf))
		if a.status != 200 || a.id != "alice" {
			t.Fatalf("alice's certificate: %+v", a)
		}
	})

	h := time.Hour
	for _, tc := range []struct {
		name, reason string
		cert         *x509.Certificate
		want         []string
	}{
		{"expired", "expired", issue(t, alice, "alice", now.Add(-2*h), h).Leaf, []string{"expired at"}},
		{"not yet valid", "not_yet_valid", issue(t, alice, "alice", now.Add(2*h), h).Leaf, []string{"not yet valid"}},
		{"span too long", "too_long", issue(t, alice, "alice", now, 48*h).Leaf, []string{"validity too long", "at most 24h"}},
		{"unknown identity", "unknown_identity", issue(t, alice, "nobody", now, h).Leaf, []string{`"nobody"`, "does not know"}},
		{"suspended", "inactive", issue(t, susp2key(t, st, "sam"), "sam", now, h).Leaf, []string{`"sam" is not active`, "SUSPENDED", "under review"}},
		{"revoked", "inactive", issue(t, newKey(t), "rita", now, h).Leaf, []string{`"rita" is not active`, "REVOKED"}},
		{"another key", "bad_signature", issue(t, other, "alice", now, h).Leaf, []string{"does not verify under the identity's current key"}},
		{"no URI SAN", "malformed", handCert(t, alice, certOpts{notBefore: now.Add(-h), notAfter: now.Add(h)}), []string{"malformed", "0 URI SANs"}},
		{"other URI", "malformed", handCert(t, alice, certOpts{uris: []string{"https://alice.example"}, notBefore: now.Add(-h), notAfter: now.Add(h)}), []string{"malformed", "https://alice.example"}},
		{"two URIs", "malformed", handCert(t, alice, certOpts{uris: []string{clientcert.URIPrefix + "alice", clientcert.URIPrefix + "bob"}, notBefore: now.Add(-h), notAfter: now.Add(h)}), []string{"2 URI SANs"}},
		{"bad id", "malformed", handCert(t, alice, certOpts{uris: []string{clientcert.URIPrefix + "a%20b"}, notBefore: now.Add(-h), notAfter: now.Add(h)}), []string{"identity id"}},
		{"no clientAuth", "malformed", handCert(t, alice, certOpts{uris: []string{clientcert.URIPrefix + "alice"}, noEKU: true, notBefore: now.Add(-h), notAfter: now.Add(h)}), []string{"clientAuth"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := metricValue(g.m.authRefused.WithLabelValues(tc.reason))
			a := serve(g, connectReq("192.0.2.7:4000", tc.cert))
			if a.status != http.StatusUnauthorized || a.code != "unauthenticated" {
				t.Fatalf("%s: %+v, want 401 unauthenticated", tc.name, a)
			}
			for _, w := range tc.want {
				if !strings.Contains(a.msg, w) {
					t.Errorf("%s: message %q lacks %q", tc.name, a.msg, w)
				}
			}
			if got := metricValue(g.m.authRefused.WithLabelValues(tc.reason)); got != before+1 {
				t.Errorf("%s: govnode_api_auth_refused_total{reason=%q} %v → %v", tc.name, tc.reason, before, got)
			}
		})
	}
}

// susp2key registers a fresh key for the suspended identity id and
// returns it, so that its certificate fails on the status alone.
func susp2key(t *testing.T, st *memState, id string) crypto.PrivateKey {
	k := newKey(t)
	b, _ := st.Get(exec.IdentityKey(id))
	idn := &pb.Identity{}
	if err := proto.Unmarshal(b, idn); err != nil {
		t.Fatal(err)
	}
	idn.PublicKey = k.Public()
	st.put(t, idn)
	return k
}

// The verdict cache: one verification per certificate while the identity
// is unchanged; a new updated height verifies again.
func TestGateVerdictCache(t *testing.T) {
	now := time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)
	st := &memState{}
	k := newKey(t)
	idn := activeIdentity("alice", k, 5)
	st.put(t, idn)
	g, _ := testGate(st, &now, RateLimitConfig{})
	cert := issue(t, k, "alice", now, time.Hour).Leaf
	for range 3 {
		if a := serve(g, connectReq("192.0.2.7:1", cert)); a.id != "alice" {
			t.Fatalf("%+v", a)
		}
	}
	if n := len(g.auth.verified); n != 1 {
		t.Fatalf("%d verdicts cached after 3 requests with one certificate, want 1", n)
	}
	idn.UpdatedHeight = 9
	idn.Roles = append(idn.Roles, pb.Role_ROLE_REGISTRAR)
	st.put(t, idn)
	if a := serve(g, connectReq("192.0.2.7:1", cert)); a.id != "alice" {
		t.Fatalf("%+v", a)
	}
	if n := len(g.auth.verified); n != 2 {
		t.Fatalf("%d verdicts cached after the identity changed at height 9, want 2 (verified again)", n)
	}
}

// Over a real TLS connection: a key rotation, then a suspension, refuse
// the next request on the same connection, with the reason.
func TestGateSameConnection(t *testing.T) {
	now := time.Now()
	st := &memState{}
	k1, k2 := newKey(t), newKey(t)
	idn := activeIdentity("alice", k1, 5)
	st.put(t, idn)
	g, _ := testGate(st, &now, RateLimitConfig{})
	pair := testTLS(t)
	srv := httptest.NewUnstartedServer(g)
	srv.TLS = pair.server.Clone()
	srv.TLS.ClientAuth = tls.RequestClientCert
	srv.StartTLS()
	t.Cleanup(srv.Close)

	cert := issue(t, k1, "alice", now, time.Hour)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pair.roots, Certificates: []tls.Certificate{*cert}}, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	var conns []bool // reused, per request
	call := func() answer {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { conns = append(conns, i.Reused) }})
		r, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/govnode.v1.NodeService/Status", strings.NewReader("{}"))
		r.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var body struct{ Code, Message, ID string }
		_ = json.Unmarshal(b, &body)
		return answer{status: resp.StatusCode, code: body.Code, msg: body.Message, id: body.ID}
	}
	if a := call(); a.id != "alice" {
		t.Fatalf("first request: %+v", a)
	}
	idn.PublicKey, idn.UpdatedHeight = k2.Public(), 8
	idn.KeyHistory = append(idn.KeyHistory, &pb.KeyChange{PublicKey: k1.Public(), ReplacedHeight: 8})
	st.put(t, idn)
	if a := call(); a.code != "unauthenticated" || !strings.Contains(a.msg, "current key") {
		t.Fatalf("after the rotation: %+v, want unauthenticated naming the current key", a)
	}
	idn.PublicKey, idn.UpdatedHeight = k1.Public(), 9 // back to k1 (a test state), then suspended
	st.put(t, idn)
	if a := call(); a.id != "alice" {
		t.Fatalf("k1 current again: %+v", a)
	}
	idn.Status, idn.UpdatedHeight = pb.IdentityStatus_IDENTITY_STATUS_SUSPENDED, 10
	st.put(t, idn)
	if a := call(); a.code != "unauthenticated" || !strings.Contains(a.msg, "not active") {
		t.Fatalf("after the suspension: %+v", a)
	}
	for i, reused := range conns[1:] {
		if !reused {
			t.Fatalf("request %d opened a new connection: the test must run on one", i+2)
		}
	}
}
