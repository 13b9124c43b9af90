package lightclient_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/ledger/lightclient"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// hostileGenesis is a valid one-validator genesis and its hash, for
// bundles built by hand: nothing in them can carry a valid certificate.
func hostileGenesis(t *testing.T) ([]byte, []byte) {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	gen, err := proto.MarshalOptions{Deterministic: true}.Marshal(&pb.GenesisDoc{ChainId: "hostile", FaultModel: "crash",
		Validators: []*pb.Department{{Id: "d0", ConsensusKey: &pb.PublicKey{Scheme: pb.KeyScheme_KEY_SCHEME_ED25519, Key: pub}}}})
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(gen)
	return gen, h[:]
}

// verifyWithin runs VerifyBundle and fails the test if it takes longer
// than d (the verifier runs in a citizen's browser: a bundle from anyone
// must be refused in bounded time).
func verifyWithin(t *testing.T, d time.Duration, raw, hash []byte) (*lightclient.Report, error) {
	t.Helper()
	type result struct {
		rep *lightclient.Report
		err error
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		rep, err := lightclient.VerifyBundle(raw, hash)
		done <- result{rep, err}
	}()
	select {
	case r := <-done:
		t.Logf("%d bytes verified in %v: %d failures", len(raw), time.Since(start), len(r.rep.Failures))
		if r.err == nil || r.rep.OK {
			t.Fatal("a hostile bundle verified")
		}
		return r.rep, r.err
	case <-time.After(d):
		t.Fatalf("VerifyBundle of a %d-byte bundle still running after %v", len(raw), d)
	}
	return nil, nil
}

// A validator-set change that fails with a large record, and the most
// anchors a bundle may have: the failed link is decoded once, not once
// for every anchor (it took minutes for a 2 MB bundle).
func TestVerifyBundleBrokenSetManyAnchors(t *testing.T) {
	gen, hash := hostileGenesis(t)
	hdr, _ := proto.Marshal(&pb.Header{ChainId: "hostile", Height: 3, StateHeight: 1})
	vs := &pb.ValidatorSet{EffectiveHeight: 5}
	for range 1_000_000 {
		vs.Validators = append(vs.Validators, &pb.Department{})
	}
	val, err := proto.Marshal(vs)
	if err != nil {
		t.Fatal(err)
	}
	b := &pb.ProofBundle{Format: lightclient.Format, Genesis: gen, RecordId: "r1", Height: 1,
		ValidatorSets: []*pb.BundleProof{{Key: []byte("not the key"), Value: val}}}
	for len(b.Anchors) < lightclient.MaxAnchors {
		b.Anchors = append(b.Anchors, &pb.BundleAnchor{Header: hdr, Cert: &pb.CommitCert{}})
	}
	raw, err := proto.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := verifyWithin(t, 20*time.Second, raw, hash)
	want(t, rep, err, "validator_sets[0]", "the proof is for key")
}
