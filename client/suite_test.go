package client_test

import (
	"bytes"
	"encoding/pem"
	"errors"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"

	"github.com/govnode/govnode/client"
	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/genesis"
	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/node/nodetest"
	"github.com/govnode/govnode/node/tlscert"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// TestSDKOnSM2Node: the SDK against a node of an "sm2-sm3" chain. It
// learns the suite from Status, signs with SM2 keys, authenticates with a
// client certificate its SM2 identity key signs, computes SM3 tx hashes
// and commitments the node agrees with, and verifies proofs and bundles
// with SM3; a proof checked as another suite's, or against an Ed25519
// genesis anchor, fails.
func TestSDKOnSM2Node(t *testing.T) {
	chain := nodetest.NewChain(t, nodetest.Options{Suite: crypto.SM2SM3, TLS: true})
	n := chain.Start(t)
	ctx := testCtx(t)
	off := signerOf(t, chain.Official)
	if off.Key.Scheme() != pb.KeyScheme_KEY_SCHEME_SM2 {
		t.Fatalf("the official's key is %s", crypto.SchemeName(off.Key.Scheme()))
	}
	c, err := client.Dial(n.APIAddr(), client.WithCAFile(filepath.Join(chain.Home, "tls", tlscert.CAFile)), client.WithIdentity(off))
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Status(ctx)
	if err != nil || st.GetCryptoSuite() != "sm2-sm3" || st.GetCallerId() != off.ID {
		t.Fatalf("status: suite %q, caller %q (an SM2-signed client certificate), %v", st.GetCryptoSuite(), st.GetCallerId(), err)
	}
	if s, err := c.Suite(ctx); err != nil || s != crypto.SM2SM3 {
		t.Fatalf("Suite: %v %v", s, err)
	}
	r, err := c.Submit(ctx, off, client.MustTx(&pb.CreateRecord{RecordId: "lt-1", RecordType: nodetest.LandTitle, SubjectId: "citizen0", Content: []byte("地块 12")}),
		client.SubmitOptions{Wait: true})
	if err != nil || r.Err() != nil || !r.Committed {
		t.Fatalf("submit: %+v %v", r, err)
	}
	if !bytes.Equal(r.NodeTxHash, r.TxHash) {
		t.Fatalf("node hash %x, the SDK's %x", r.NodeTxHash, r.TxHash)
	}
	got, err := c.GetTx(ctx, r.TxHash)
	if err != nil || !bytes.Equal(crypto.SM2SM3.Hash(got.GetTx()), r.TxHash) {
		t.Fatalf("GetTx: the tx hash is not its SM3: %v", err)
	}
	a := anchorOf(t, chain)
	if a.Suite != crypto.SM2SM3 {
		t.Fatalf("anchor suite %s", a.Suite)
	}
	m, p, err := c.VerifiedRecord(ctx, a, &pb.QueryRecordRequest{RecordId: "lt-1", WithVersions: true})
	if err != nil || !p.Anchored || m.GetRecord().GetVersion() != 1 || len(m.GetVersions()) != 1 {
		t.Fatalf("VerifiedRecord: %+v %v", p, err)
	}
	if !bytes.Equal(m.GetVersions()[0].GetContentHash(), crypto.SM2SM3.Hash([]byte("地块 12"))) {
		t.Fatal("the content hash is not the content's SM3")
	}
	h, _ := genesis.Hash(chain.Genesis)
	if _, rep, err := c.VerifyRecordBundle(ctx, "lt-1", 0, h); err != nil || len(rep.Versions) != 1 {
		t.Fatalf("bundle: %v %v", rep, err)
	}
	// The same proof checked as an ed25519-sha256 chain's fails.
	raw, err := c.QueryRecord(ctx, &pb.QueryRecordRequest{RecordId: "lt-1", Prove: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.VerifyObject(raw.GetProof(), exec.RecordKey("lt-1"), raw.GetRecord(), chain.ChainID, crypto.Ed25519SHA256, nil); !errors.Is(err, client.ErrProof) {
		t.Fatalf("an sm2-sm3 proof checked with SHA-256: %v", err)
	}
	if _, err := client.VerifyObject(raw.GetProof(), exec.RecordKey("lt-1"), raw.GetRecord(), chain.ChainID, crypto.SM2SM3, a); err != nil {
		t.Fatalf("the proof checked with SM3: %v", err)
	}
	ed := anchorOf(t, nodetest.NewChain(t, nodetest.Options{ChainID: chain.ChainID, Seed: 9}))
	if _, _, err := c.VerifiedRecord(ctx, ed, &pb.QueryRecordRequest{RecordId: "lt-1"}); !errors.Is(err, client.ErrProof) || !strings.Contains(err.Error(), "ed25519-sha256") {
		t.Fatalf("an ed25519-sha256 anchor: %v", err)
	}

	// Protected content: the commitment is SM3's, and the node agrees.
	stx, err := c.Prepare(ctx, off, client.MustTx(&pb.CreateRecord{RecordId: "bc-1", RecordType: nodetest.BirthCert, SubjectId: "citizen0", Content: []byte("Ada")}), client.SubmitOptions{})
	if err != nil || len(stx.Payloads) != 1 || stx.Suite != crypto.SM2SM3 {
		t.Fatalf("prepare: %v", err)
	}
	pr, err := c.Send(ctx, stx, client.SubmitOptions{Wait: true})
	if err != nil || pr.Err() != nil {
		t.Fatalf("protected create: %+v %v", pr, err)
	}
	if want := crypto.SM2SM3.PayloadCommitment(stx.Payloads[0].GetSalt(), []byte("Ada")); !bytes.Equal(pr.Payloads[0], want) {
		t.Fatalf("commitment %x, SM3's %x", pr.Payloads[0], want)
	}
	released := &pb.RecordContent{RecordId: "bc-1", Version: 1, Payload: stx.Payloads[0]}
	k := c.NewContentChecker(client.ContentOptions{Prove: true, Anchor: a})
	if _, err := k.Check(ctx, released); err != nil {
		t.Fatalf("released content: %v", err)
	}
	forged := proto.Clone(released).(*pb.RecordContent)
	forged.Payload.Content = []byte("Mallory")
	if _, err := k.Check(ctx, forged); err == nil {
		t.Fatal("forged content accepted")
	}
}

// TestOpenSSLSignedTxCommits: a transaction body signed by OpenSSL 3 (SM2
// with SM3 and the standard distinguishing ID, the official's key handed
// to it as PKCS#8) is accepted by a node of an "sm2-sm3" chain and
// committed; the same signature over another body is refused.
func TestOpenSSLSignedTxCommits(t *testing.T) {
	openssl, err := osexec.LookPath("openssl")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("no openssl in PATH while CI is set: .ci/run installs it")
		}
		t.Skip("openssl is not on PATH (apt-get install openssl); CI runs this test")
	}
	chain := nodetest.NewChain(t, nodetest.Options{Suite: crypto.SM2SM3})
	n := chain.Start(t)
	dir := t.TempDir()
	priv, err := sm2.NewPrivateKey(chain.Official.Key.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	der, err := smx509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := filepath.Join(dir, "official.pem")
	if err := os.WriteFile(keyPEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	body := &pb.TxBody{ChainId: chain.ChainID, Signer: chain.Official.ID, Nonce: 1,
		Action: &pb.TxBody_CreateRecord{CreateRecord: &pb.CreateRecord{RecordId: "lt-openssl", RecordType: nodetest.LandTitle, SubjectId: "citizen0", Content: []byte("signed by OpenSSL")}}}
	bb, err := proto.MarshalOptions{Deterministic: true}.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	msg := filepath.Join(dir, "signbytes")
	if err := os.WriteFile(msg, crypto.TxSignBytes(chain.ChainID, bb), 0o600); err != nil {
		t.Fatal(err)
	}
	sigFile := filepath.Join(dir, "sig")
	if out, err := osexec.Command(openssl, "pkeyutl", "-sign", "-inkey", keyPEM, "-rawin", "-in", msg, "-out", sigFile,
		"-digest", "sm3", "-pkeyopt", "distid:1234567812345678").CombinedOutput(); err != nil {
		t.Fatalf("openssl pkeyutl -sign: %v\n%s", err, out)
	}
	sig, err := os.ReadFile(sigFile)
	if err != nil {
		t.Fatal(err)
	}
	submit := func(bodyBytes []byte) (*pb.SubmitTxResponse, error) {
		raw, err := proto.Marshal(&pb.SignedTx{Body: bodyBytes, Signature: sig})
		if err != nil {
			t.Fatal(err)
		}
		res, err := n.Client.SubmitTx(nodetest.Ctx(t), connect.NewRequest(&pb.SubmitTxRequest{Tx: raw, WaitForCommit: true}))
		if err != nil {
			return nil, err
		}
		return res.Msg, nil
	}
	// The signature over another body (another record id) is refused.
	other := proto.Clone(body).(*pb.TxBody)
	other.GetCreateRecord().RecordId = "lt-forged"
	ob, err := proto.MarshalOptions{Deterministic: true}.Marshal(other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := submit(ob); err == nil || !strings.Contains(err.Error(), "signature") {
		t.Fatalf("OpenSSL's signature over another body: %v", err)
	}
	res, err := submit(bb)
	if err != nil || res.GetResult().GetCode() != pb.ResultCode_RESULT_CODE_OK {
		t.Fatalf("the OpenSSL-signed tx: %v %v", res, err)
	}
	if !bytes.Equal(res.GetTxHash(), crypto.SM2SM3.Hash(mustMarshal(t, &pb.SignedTx{Body: bb, Signature: sig}))) {
		t.Fatalf("tx hash %x is not the SM3 of the signed tx", res.GetTxHash())
	}
}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
