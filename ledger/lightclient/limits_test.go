package lightclient_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

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

// A reason quotes what it refuses, but never at length: a hostile bundle's
// megabyte keys, chain ids and format strings leave reasons of at most
// MaxReasonBytes, still valid UTF-8, so the report stays small (before,
// each was the size of the field quoted, up to four times over).
func TestVerifyBundleReasonsBounded(t *testing.T) {
	gen, hash := hostileGenesis(t)
	huge := bytes.Repeat([]byte{0xff, 0x00, '"'}, 1<<20)
	text := strings.Repeat("\x01\"\u00e9", 1<<20) // valid UTF-8, as a string field must be
	hdr, _ := proto.Marshal(&pb.Header{ChainId: "hostile" + text, Height: 3, StateHeight: 1})
	okHdr, _ := proto.Marshal(&pb.Header{ChainId: "hostile", Height: 3, StateHeight: 1, ValidatorSetHash: huge})
	for _, tc := range []struct {
		name   string
		b      *pb.ProofBundle
		part   string
		reason string
	}{
		{"format", &pb.ProofBundle{Format: text, Genesis: gen, RecordId: "r1", Height: 1}, "format", "want"},
		{"chain id", &pb.ProofBundle{Format: lightclient.Format, Genesis: gen, RecordId: "r1", Height: 1,
			Anchors: []*pb.BundleAnchor{{Header: hdr, Cert: &pb.CommitCert{}}}}, "anchors[0]", "is of chain"},
		{"key", &pb.ProofBundle{Format: lightclient.Format, Genesis: gen, RecordId: "r1", Height: 1,
			Anchors: []*pb.BundleAnchor{{Header: okHdr, Cert: &pb.CommitCert{BlockHash: huge}}},
			Record:  &pb.BundleProof{Key: huge, Value: []byte{1}}, Versions: []*pb.BundleProof{{Key: huge}}}, "record", "proves key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := proto.Marshal(tc.b)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := verifyWithin(t, 20*time.Second, raw, hash)
			want(t, rep, err, tc.part, tc.reason)
			for _, f := range rep.Failures {
				if len(f.Reason) > lightclient.MaxReasonBytes || !utf8.ValidString(f.Reason) {
					t.Errorf("%s: a reason of %d bytes (valid UTF-8: %v), at most %d", f.Part, len(f.Reason), utf8.ValidString(f.Reason), lightclient.MaxReasonBytes)
				}
			}
			if js, _ := json.Marshal(rep); len(js) > 64<<10 {
				t.Errorf("a report of %d bytes", len(js))
			}
			if len(err.Error()) > 2*lightclient.MaxReasonBytes {
				t.Errorf("an error of %d bytes", len(err.Error()))
			}
		})
	}
}
