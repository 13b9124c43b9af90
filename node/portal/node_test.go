package portal_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/genesis"
	"github.com/govnode/govnode/ledger/lightclient"
	"github.com/govnode/govnode/node"
	"github.com/govnode/govnode/node/nodetest"
	"github.com/govnode/govnode/node/tlscert"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// The portal of a running node serves only what is public: the bundle of
// a protected record carries its content hash and never its content; the
// genesis hash is the node's; over TLS (the API's pair) it asks no client
// certificate; it stops with the node.
func TestPortalOnNode(t *testing.T) {
	portalAddr := freeAddr(t)
	chain := nodetest.NewChain(t, nodetest.Options{TLS: true, Configure: func(c *node.Config) { c.Portal.ListenAddr = portalAddr }})
	n := chain.Start(t)
	base := n.PortalURL()
	if base != "https://"+portalAddr {
		t.Fatalf("portal at %q: want https on %s (the API's pair)", base, portalAddr)
	}
	ca, err := os.ReadFile(filepath.Join(chain.Home, "tls", tlscert.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca)
	var asked atomic.Bool
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			asked.Store(true)
			return &tls.Certificate{}, nil
		}}}}
	defer client.CloseIdleConnections()
	get := func(path string) (int, []byte) {
		t.Helper()
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		if _, err := b.ReadFrom(resp.Body); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, b.Bytes()
	}

	want, err := genesis.Hash(chain.Genesis)
	if err != nil {
		t.Fatal(err)
	}
	if code, body := get("/genesis-hash"); code != 200 || strings.TrimSpace(string(body)) != hex.EncodeToString(want) {
		t.Errorf("genesis hash: %d %q, want %x", code, body, want)
	}

	// A protected birth certificate: its content travels beside the tx.
	secret := []byte("SECRET birth details: born 2026-02-02 at 04:10 in ward 7 to parents A and B")
	salt, err := crypto.NewPayloadSalt()
	if err != nil {
		t.Fatal(err)
	}
	const id = "birth-77"
	tx := chain.Official.Tx(&pb.TxBody{Action: &pb.TxBody_CreateRecord{CreateRecord: &pb.CreateRecord{
		RecordId: id, RecordType: nodetest.BirthCert, SubjectId: nodetest.CitizenIDs[0],
		ContentHash: crypto.Ed25519SHA256.PayloadCommitment(salt, secret), ContentType: "text/plain",
	}}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := n.Client.SubmitTx(ctx, connect.NewRequest(&pb.SubmitTxRequest{Tx: tx, WaitForCommit: true,
		Payloads: []*pb.Payload{{Salt: salt, Content: secret}}})); err != nil {
		t.Fatal(err)
	}
	// A block above it attests its state.
	n.CommitOK(t, chain.Official.Tx(nodetest.CreateRecord("lic-1", nodetest.BusinessLicense, nodetest.CitizenIDs[1], []byte("public"))))

	var rep *lightclient.Report
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; ; i++ {
		code, body := get("/bundle/" + id)
		if code != 200 {
			t.Fatalf("bundle of the protected record: %d %s", code, body)
		}
		if bytes.Contains(body, secret) || bytes.Contains(body, []byte("SECRET")) {
			t.Fatal("the portal's bundle of a protected record carries its content")
		}
		rep, err = lightclient.VerifyBundle(body, want)
		if err == nil && len(rep.Versions) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bundle of %s does not verify: %v", id, err)
		}
		n.CommitOK(t, chain.Official.Tx(nodetest.CreateRecord("filler-"+strconv.Itoa(i), nodetest.BusinessLicense, nodetest.CitizenIDs[1], []byte("x"))))
	}
	if v := rep.Versions[0]; len(v.Content) != 0 || v.ContentHash == "" {
		t.Errorf("protected version in the report: content %q, hash %q", v.Content, v.ContentHash)
	}
	if code, _ := get("/bundle/no-such-record"); code != http.StatusNotFound {
		t.Errorf("unknown record: %d, want 404", code)
	}
	if code, _ := get("/bundle/Bad-ID"); code != http.StatusBadRequest {
		t.Errorf("bad id: %d, want 400", code)
	}
	if asked.Load() {
		t.Error("the portal asked for a client certificate")
	}

	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", portalAddr, time.Second); err == nil {
		c.Close()
		t.Error("portal still listening after the node stopped")
	}
}
