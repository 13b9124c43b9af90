package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/genesis"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// The 国密 suite end to end (issue 23, ARCHITECTURE.md §6 "Crypto suites"),
// whatever $GOVNODE_E2E_SUITE says: a one-node sm2-sm3 network written by
// `govnode testnet --crypto-suite sm2-sm3` starts, reports its suite,
// commits txs signed with SM2 keys under their SM3 hashes, and a record
// created with the CLI is proven by `query record --prove` and its bundle
// verified offline by `govnode verify` against the SM3 genesis hash (and
// not against the SHA-256 one).
func TestSM2SuiteEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end network test")
	}
	sm2 := crypto.SM2SM3
	c := newClusterWith(t, 1, "crash", clusterOpts{tls: true, suite: &sm2})

	doc, err := genesis.Load(filepath.Join(c.dir, "genesis.json"))
	if err != nil {
		t.Fatal(err)
	}
	if doc.GetCryptoSuite() != "sm2-sm3" {
		t.Fatalf("genesis crypto_suite %q", doc.GetCryptoSuite())
	}
	d := doc.GetValidators()[0]
	if err := crypto.Verify(d.GetConsensusKey(), crypto.PeerBindingSignBytes(doc.GetChainId(), d.GetId(), d.GetPeerId()), d.GetPeerBinding()); err != nil {
		t.Fatalf("dept0's peer binding: %v", err)
	}
	enc, err := proto.MarshalOptions{Deterministic: true}.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	sm3Hash, shaHash := crypto.SM2SM3.Hash(enc), sha256.Sum256(enc)

	// The node and the CLI name the suite and the SM3 genesis hash.
	st, err := c.status(0)
	if err != nil {
		t.Fatal(err)
	}
	if st.GetCryptoSuite() != "sm2-sm3" || !bytes.Equal(st.GetGenesisHash(), sm3Hash) {
		t.Fatalf("Status: crypto_suite %q, genesis hash %x; want sm2-sm3 and %x", st.GetCryptoSuite(), st.GetGenesisHash(), sm3Hash)
	}
	var js struct {
		CryptoSuite string `json:"crypto_suite"`
	}
	if out := c.cli(false, "status", "--node", c.apis[0], "--output", "json"); json.Unmarshal([]byte(out), &js) != nil || js.CryptoSuite != "sm2-sm3" {
		t.Fatalf("govnode status --output json: crypto_suite %q\n%s", js.CryptoSuite, out)
	}

	// Txs signed with the accounts' SM2 keys commit under SM3 hashes
	// (submitLoad checks SubmitTx's hash is the suite's), in blocks whose
	// headers name the suite.
	if s := c.accounts()[0].key.Public().GetScheme(); s != pb.KeyScheme_KEY_SCHEME_SM2 {
		t.Fatalf("account0's key is %v", s)
	}
	acked := c.submitLoad(4, 0)
	c.waitCommitted(0, acked, 60*time.Second)
	_, counts := c.checkAgreement(0)
	exactlyOnce(t, acked, counts)
	if b := c.block(0, c.height(0)); b.GetHeader().GetCryptoSuite() != "sm2-sm3" || !bytes.Equal(b.GetHash(), crypto.SM2SM3.Hash(b.GetBlock().GetHeader())) {
		t.Fatalf("block %d: header names crypto_suite %q, hash %x (SM3 of the header %x)", b.GetHeight(), b.GetHeader().GetCryptoSuite(), b.GetHash(), crypto.SM2SM3.Hash(b.GetBlock().GetHeader()))
	}

	// A record created with the CLI, proven, and its bundle verified offline.
	c.cli(false, "tx", "record", "create", "--signer", "dept0-official", "--id", "lt-sm2", "--type", "land_title",
		"--subject", "account0", "--content", "plot 23, 国密 suite", "--content-type", "text/plain", "--wait")
	if out := c.cli(false, "query", "record", "lt-sm2", "--prove", "--node", c.apis[0]); !strings.Contains(out, "verified") {
		t.Fatalf("query record --prove:\n%s", out)
	}
	bundle := filepath.Join(t.TempDir(), "lt-sm2.bundle")
	c.cli(false, "query", "record", "lt-sm2", "--bundle", bundle, "--node", c.apis[0])
	verify := func(hash []byte) (string, error) {
		out, err := exec.Command(binary, "verify", bundle, "--genesis-hash", hex.EncodeToString(hash)).CombinedOutput()
		return string(out), err
	}
	if out, err := verify(sm3Hash); err != nil || !strings.Contains(out, "VERIFIED: every proof") {
		t.Fatalf("govnode verify against the SM3 genesis hash: %v\n%s", err, out)
	}
	if out, err := verify(shaHash[:]); err == nil || !strings.Contains(out, "NOT VERIFIED") || !strings.Contains(out, "another chain") {
		t.Fatalf("govnode verify against the SHA-256 hash of the same genesis passed:\n%s", out)
	}
}
