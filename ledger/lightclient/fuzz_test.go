package lightclient_test

import (
	"crypto/sha256"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/ledger/lightclient"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// FuzzVerifyBundle: any input gives a report, never a panic; the report
// is OK exactly when no error is returned, and a failed one names at
// least one failure. Nothing from a fuzzer can carry a valid commit
// certificate of the seed's genesis, so nothing verifies.
func FuzzVerifyBundle(f *testing.F) {
	gen, _ := proto.MarshalOptions{Deterministic: true}.Marshal(&pb.GenesisDoc{ChainId: "fuzz", FaultModel: "crash",
		Validators: []*pb.Department{{Id: "d0", ConsensusKey: &pb.PublicKey{Scheme: pb.KeyScheme_KEY_SCHEME_ED25519, Key: make([]byte, 32)}}}})
	hash := sha256.Sum256(gen)
	hdr, _ := proto.Marshal(&pb.Header{ChainId: "fuzz", Height: 3, StateHeight: 1, StateRoot: make([]byte, 32)})
	seed, _ := proto.Marshal(&pb.ProofBundle{
		Format: lightclient.Format, Genesis: gen, RecordId: "r1", Height: 1,
		Anchors:       []*pb.BundleAnchor{{Header: hdr, Cert: &pb.CommitCert{Height: 3}}},
		Record:        &pb.BundleProof{Key: lightclient.RecordKey("r1"), Value: []byte{0x0a, 0x02, 'r', '1', 0x30, 0x01}, Proof: []byte{0, 0}},
		Versions:      []*pb.BundleProof{{Key: lightclient.RecordVersionKey("r1", 1), Value: []byte{0x0a, 0x02, 'r', '1'}, Proof: []byte{0, 0}}},
		AccessCount:   &pb.BundleProof{Key: lightclient.AccessCountKey("r1"), Proof: []byte{0, 0}},
		ValidatorSets: []*pb.BundleProof{{Key: lightclient.ValidatorSetKey(2), Value: []byte{0x18, 0x02}, Proof: []byte{0, 0}}},
	})
	for _, s := range [][]byte{nil, {0}, []byte("govnode-bundle/1"), seed, seed[:len(seed)/2]} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		rep, err := lightclient.VerifyBundle(raw, hash[:])
		if rep == nil {
			t.Fatal("no report")
		}
		if err == nil || rep.OK || len(rep.Failures) == 0 {
			t.Fatalf("verified or unnamed: err %v, ok %v, failures %v", err, rep.OK, rep.Failures)
		}
	})
}
