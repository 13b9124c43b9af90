package lightclient_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/genesis"
	"github.com/govnode/govnode/ledger/lightclient"
	"github.com/govnode/govnode/ledger/lightclient/lightclienttest"
	"github.com/govnode/govnode/node/nodetest"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

func decode(t *testing.T, raw []byte) *pb.ProofBundle {
	t.Helper()
	b := &pb.ProofBundle{}
	if err := proto.Unmarshal(raw, b); err != nil {
		t.Fatal(err)
	}
	return b
}

func encode(t *testing.T, b *pb.ProofBundle) []byte {
	t.Helper()
	raw, err := proto.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// flip changes one byte of b at the first occurrence of sub.
func flip(t *testing.T, b []byte, sub string) {
	t.Helper()
	i := bytes.Index(b, []byte(sub))
	if i < 0 {
		t.Fatalf("%q not found", sub)
	}
	b[i] ^= 0x01
}

// want fails unless rep failed and names part with a reason containing
// reason.
func want(t *testing.T, rep *lightclient.Report, err error, part, reason string) {
	t.Helper()
	if err == nil || !errors.Is(err, lightclient.ErrNotVerified) || rep.OK {
		t.Fatalf("verified (err %v); want %s: %s", err, part, reason)
	}
	for _, f := range rep.Failures {
		if f.Part == part && strings.Contains(f.Reason, reason) {
			return
		}
	}
	t.Fatalf("no failure %s: %q among %+v", part, reason, rep.Failures)
}

// The light client over bundles of a real chain (ARCHITECTURE.md §6,
// "Proof bundles"): the good bundle verifies, and any part tampered with
// fails with that part named and the reason.
func TestBundle(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a node")
	}
	c := lightclienttest.NewChain(t)
	good := c.Bundle(t, lightclienttest.Record, 0)
	verify := func(raw []byte) (*lightclient.Report, error) { return lightclient.VerifyBundle(raw, c.GenesisHash) }

	rep, err := verify(good)
	if err != nil || !rep.OK || len(rep.Failures) != 0 {
		t.Fatalf("good bundle: %v %+v", err, rep.Failures)
	}
	gb := decode(t, good)
	if r := rep.Record; r == nil || r.ID != lightclienttest.Record || r.Version != lightclienttest.Versions || r.Status != "active" ||
		r.SubjectID != "citizen0" || r.IssuerDepartmentID != nodetest.Dept || rep.ChainID != "bundle-chain" || rep.Height != gb.GetHeight() {
		t.Errorf("record %+v at %d of %s", r, rep.Height, rep.ChainID)
	}
	if len(rep.Versions) != lightclienttest.Versions || len(rep.Access) != lightclienttest.Accesses {
		t.Fatalf("%d versions and %d access entries", len(rep.Versions), len(rep.Access))
	}
	for i, v := range rep.Versions {
		if v.Version != uint64(i+1) || v.AuthorID != nodetest.OfficeID || v.AuthorDepartmentID != nodetest.Dept || v.Height == 0 ||
			v.ProvenHeight < v.Height || v.ProvenHeight > rep.Height || len(v.TxHash) != 64 || len(v.ContentHash) != 64 {
			t.Errorf("version %d: %+v", i+1, v)
		}
	}
	if string(rep.Versions[3].Content) != lightclienttest.Content || rep.Versions[3].Reason != "renewal" || rep.Versions[0].Action != "created" {
		t.Errorf("versions: %+v", rep.Versions)
	}
	if a := rep.Access[0]; a.Seq != 1 || a.Purpose != "inspection" || a.LegalBasis != "law 1" || a.DepartmentID != nodetest.Dept {
		t.Errorf("access entry 1: %+v", a)
	}
	if v := rep.Validators; v.SetsFollowed != 1 || len(v.Keys) != 1 || v.Height < c.SetFrom {
		t.Errorf("validators %+v, the set change at %d", v, c.SetFrom)
	}
	// Size (issue 21's target: under 4 KB a version, content excluded):
	// each version's proof, and its anchor unless the record's.
	perVersion := 0
	for _, p := range gb.GetVersions() {
		perVersion += proto.Size(p) + 3
		if p.GetAnchor() != gb.GetRecord().GetAnchor() {
			perVersion += proto.Size(gb.GetAnchors()[p.GetAnchor()]) + 3
		}
	}
	for _, v := range rep.Versions {
		perVersion -= len(v.Content)
	}
	perVersion /= len(gb.GetVersions())
	t.Logf("bundle of %d bytes (genesis %d), %d bytes a version with its anchor, content excluded", len(good), len(gb.GetGenesis()), perVersion)
	if perVersion >= 4096 {
		t.Errorf("%d bytes a version", perVersion)
	}
	// Versions written at one height share an anchor; no anchor twice.
	seen := map[string]bool{}
	for _, a := range gb.GetAnchors() {
		if seen[string(a.GetHeader())] {
			t.Errorf("anchor repeated")
		}
		seen[string(a.GetHeader())] = true
	}

	// The Report's JSON, which the portal renders: exactly these names.
	js, _ := json.Marshal(rep)
	var m map[string]any
	if err := json.Unmarshal(js, &m); err != nil {
		t.Fatal(err)
	}
	keys := func(m map[string]any) []string {
		var ks []string
		for k := range m {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		return ks
	}
	for _, c := range []struct {
		obj  map[string]any
		want []string
	}{
		{m, []string{"access", "chain_id", "failures", "genesis_hash", "height", "ok", "record", "validators", "versions"}},
		{m["record"].(map[string]any), []string{"erased_height", "holder_id", "id", "issuer_department_id", "record_type", "status", "subject_id", "version"}},
		{m["versions"].([]any)[0].(map[string]any), []string{"action", "author_department_id", "author_id", "content", "content_hash", "content_type",
			"height", "holder_id", "proven_height", "reason", "time_unix_ms", "tx_hash", "version"}},
		{m["access"].([]any)[0].(map[string]any), []string{"accessor_id", "channel", "department_id", "grant_id", "height", "legal_basis", "purpose",
			"recorded_by", "seq", "time_unix_ms", "tx_hash"}},
		{m["validators"].(map[string]any), []string{"height", "keys", "sets_followed"}},
	} {
		if got := keys(c.obj); !slices.Equal(got, c.want) {
			t.Errorf("JSON keys %v, want %v", got, c.want)
		}
	}
	if m["versions"].([]any)[3].(map[string]any)["content"] != "Zm91cnRoIHZlcnNpb24gb2YgdGhlIGxpY2VuY2U=" { // base64 of Content
		t.Errorf("content in JSON: %v", m["versions"].([]any)[3])
	}

	// The same with the genesis document instead of its hash, JSON or
	// binary.
	gj, err := genesis.Marshal(c.Genesis)
	if err != nil {
		t.Fatal(err)
	}
	gbin, _ := proto.MarshalOptions{Deterministic: true}.Marshal(c.Genesis)
	for _, doc := range [][]byte{gj, gbin} {
		if rep, err := lightclient.VerifyBundleWithGenesis(good, doc); err != nil || !rep.OK {
			t.Errorf("VerifyBundleWithGenesis: %v", err)
		}
	}
	rep2, err := lightclient.VerifyBundleWithGenesis(good, []byte(`{"chain_id": "bundle-chain", "no_such_field": 1}`))
	want(t, rep2, err, "genesis", "parse genesis")
	otherDoc := proto.Clone(c.Genesis).(*pb.GenesisDoc)
	otherDoc.GenesisTime = "2026-01-02T00:00:00Z"
	otherJSON, _ := genesis.Marshal(otherDoc)
	rep2, err = lightclient.VerifyBundleWithGenesis(good, otherJSON)
	want(t, rep2, err, "genesis", "bundle is for another chain")

	recAnchor := gb.GetRecord().GetAnchor()
	v0Anchor := gb.GetVersions()[0].GetAnchor()
	v2Anchor := gb.GetVersions()[2].GetAnchor()
	setAnchor := gb.GetValidatorSets()[0].GetAnchor()
	if v2Anchor == recAnchor || v0Anchor == recAnchor || setAnchor == recAnchor {
		t.Fatalf("anchors: record %d, versions 1 %d, 3 %d, set %d: want the versions' and set's apart from the record's", recAnchor, v0Anchor, v2Anchor, setAnchor)
	}
	part := func(f string, i uint32) string { return f + "[" + itoa(int(i)) + "]" }

	// Version 3's anchor committed through the record's certificate and
	// the chain of headers between: an equally valid bundle, whose chain
	// the tamper cases below change.
	withChain := func(t *testing.T, b *pb.ProofBundle) *pb.BundleAnchor {
		a := b.Anchors[v2Anchor]
		from := decodeHeader(t, a.GetHeader()).GetHeight()
		to := decodeHeader(t, b.Anchors[recAnchor].GetHeader()).GetHeight()
		a.Cert, a.Chain = b.Anchors[recAnchor].GetCert(), nil
		for h := from + 1; h <= to; h++ {
			r, err := c.Node.Client.GetBlock(nodetest.Ctx(t), connect.NewRequest(&pb.GetBlockRequest{Height: h}))
			if err != nil {
				t.Fatal(err)
			}
			a.Chain = append(a.Chain, r.Msg.GetBlock().GetHeader())
		}
		return a
	}
	b := decode(t, good)
	withChain(t, b)
	if rep, err := verify(encode(t, b)); err != nil {
		t.Fatalf("an anchor committed through a later certificate and its chain: %v %+v", err, rep.Failures)
	}

	for _, tc := range []struct {
		name         string
		tamper       func(t *testing.T, b *pb.ProofBundle)
		part, reason string
	}{
		{"content of a version", func(t *testing.T, b *pb.ProofBundle) { flip(t, b.Versions[3].Value, lightclienttest.Content) },
			"versions[3]", "tree proof does not reach the state root of anchor"},
		{"author of a version", func(t *testing.T, b *pb.ProofBundle) { flip(t, b.Versions[1].Value, nodetest.OfficeID) },
			"versions[1]", "tree proof does not reach the state root of anchor"},
		{"the record", func(t *testing.T, b *pb.ProofBundle) { flip(t, b.Record.Value, "citizen0") },
			"record", "tree proof does not reach the state root of anchor"},
		{"a tree proof node", func(t *testing.T, b *pb.ProofBundle) { p := b.Versions[2].Proof; p[len(p)-1] ^= 1 },
			"versions[2]", "tree proof does not reach the state root of anchor " + itoa(int(v2Anchor))},
		{"a header", func(t *testing.T, b *pb.ProofBundle) { h := b.Anchors[v0Anchor].Header; h[len(h)-1] ^= 1 },
			part("anchors", v0Anchor), "commit certificate"},
		{"a header, seen by its proof", func(t *testing.T, b *pb.ProofBundle) { h := b.Anchors[v0Anchor].Header; h[len(h)-1] ^= 1 },
			"versions[0]", "which is not proven committed (see anchors[" + itoa(int(v0Anchor)) + "])"},
		{"a chain header", func(t *testing.T, b *pb.ProofBundle) { a := withChain(t, b); a.Chain[0][len(a.Chain[0])-1] ^= 1 },
			part("anchors", v2Anchor), "does not extend the one before"},
		{"a chain header dropped", func(t *testing.T, b *pb.ProofBundle) { a := withChain(t, b); a.Chain = a.Chain[1:] },
			part("anchors", v2Anchor), "commit certificate"},
		{"a certificate signature", func(t *testing.T, b *pb.ProofBundle) { b.Anchors[recAnchor].Cert.ChildQc.Sigs[0].Signature[3] ^= 1 },
			part("anchors", recAnchor), "commit certificate"},
		{"a certificate's signer", func(t *testing.T, b *pb.ProofBundle) { b.Anchors[recAnchor].Cert.ChildQc.Sigs[0].Validator = 1 },
			part("anchors", recAnchor), "commit certificate"},
		{"a validator key in a set proof", func(t *testing.T, b *pb.ProofBundle) {
			vs := &pb.ValidatorSet{}
			if err := proto.Unmarshal(b.ValidatorSets[0].Value, vs); err != nil {
				t.Fatal(err)
			}
			vs.Validators[0].ConsensusKey.Key[0] ^= 1
			b.ValidatorSets[0].Value, _ = proto.MarshalOptions{Deterministic: true}.Marshal(vs)
		}, "validator_sets[0]", "tree proof does not lead to state root"},
		{"a set change left out", func(t *testing.T, b *pb.ProofBundle) { b.ValidatorSets = nil },
			part("anchors", recAnchor), "not proven committed by the validator set in force from 1"},
		{"a version dropped", func(t *testing.T, b *pb.ProofBundle) { b.Versions = slices.Delete(b.Versions, 1, 2) },
			"versions[1]", "holds version 3 where version 2 belongs"},
		{"the last version dropped", func(t *testing.T, b *pb.ProofBundle) { b.Versions = b.Versions[:3] },
			"versions", "missing version 4 of 4"},
		{"two versions swapped", func(t *testing.T, b *pb.ProofBundle) { b.Versions[1], b.Versions[2] = b.Versions[2], b.Versions[1] },
			"versions[2]", "holds version 2 where version 3 belongs"},
		{"a version added", func(t *testing.T, b *pb.ProofBundle) { b.Versions = append(b.Versions, b.Versions[3]) },
			"versions[4]", "the record has 4 versions; the bundle has more"},
		{"a version's key renamed", func(t *testing.T, b *pb.ProofBundle) {
			b.Versions[0].Key = lightclient.RecordVersionKey(lightclienttest.Fresh, 1)
		}, "versions[0]", "not version 1's key"},
		{"an access entry dropped", func(t *testing.T, b *pb.ProofBundle) { b.AccessEntries = b.AccessEntries[:1] },
			"access_entries", "missing access entry 2 of 2"},
		{"the first access entry dropped", func(t *testing.T, b *pb.ProofBundle) { b.AccessEntries = b.AccessEntries[1:] },
			"access_entries[0]", "an entry is missing or out of order"},
		{"an access entry changed", func(t *testing.T, b *pb.ProofBundle) { flip(t, b.AccessEntries[0].Value, "inspection") },
			"access_entries[0]", "tree proof does not reach the state root"},
		{"the access counter", func(t *testing.T, b *pb.ProofBundle) { v := b.AccessCount.Value; v[len(v)-1] ^= 1 },
			"access_count", "tree proof does not reach the state root"},
		{"the access counter claimed absent", func(t *testing.T, b *pb.ProofBundle) { b.AccessCount.Value = nil },
			"access_count", "tree proof does not reach the state root"},
		{"another genesis", func(t *testing.T, b *pb.ProofBundle) {
			doc := proto.Clone(c.Genesis).(*pb.GenesisDoc)
			doc.ChainId = "bundle-chain-2"
			b.Genesis, _ = proto.MarshalOptions{Deterministic: true}.Marshal(doc)
		}, "genesis", "bundle is for another chain"},
		{"format", func(t *testing.T, b *pb.ProofBundle) { b.Format = "govnode-bundle/2" }, "format", `"govnode-bundle/2", want "govnode-bundle/1"`},
		{"height", func(t *testing.T, b *pb.ProofBundle) { b.Height-- }, "record", "not the bundle's height"},
		{"record id", func(t *testing.T, b *pb.ProofBundle) { b.RecordId = lightclienttest.Fresh }, "record", "proves key"},
		{"record id with a slash", func(t *testing.T, b *pb.ProofBundle) { b.RecordId = "lic-1/00000000000000000001" }, "record_id", "a character no id has"},
		{"an anchor out of range", func(t *testing.T, b *pb.ProofBundle) { b.Versions[0].Anchor = 999 }, "versions[0]", "names anchor 999"},
		{"an unused anchor", func(t *testing.T, b *pb.ProofBundle) { b.Anchors = append(b.Anchors, b.Anchors[0]) },
			part("anchors", uint32(len(gb.Anchors))), "no proof rests on it"},
		{"too many versions", func(t *testing.T, b *pb.ProofBundle) {
			for len(b.Versions) <= lightclient.MaxVersions {
				b.Versions = append(b.Versions, b.Versions[0])
			}
		}, "versions", "at most 4096"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := decode(t, good)
			tc.tamper(t, b)
			raw := encode(t, b)
			rep, err := verify(raw)
			want(t, rep, err, tc.part, tc.reason)
		})
	}
	// What failed is not reported as verified.
	b = decode(t, good)
	flip(t, b.Versions[3].Value, lightclienttest.Content)
	if rep, _ := verify(encode(t, b)); len(rep.Versions) != 3 || rep.Versions[2].Version != 3 || rep.Record == nil || len(rep.Access) != 2 {
		t.Errorf("version 4 tampered: the report holds %d versions, record %v, %d access entries", len(rep.Versions), rep.Record, len(rep.Access))
	}
	b = decode(t, good)
	flip(t, b.Record.Value, "citizen0")
	if rep, _ := verify(encode(t, b)); rep.Record != nil || len(rep.Versions) != 0 || len(rep.Access) != 0 || rep.Height != 0 || rep.Validators.Height != 0 {
		t.Errorf("record tampered: the report holds record %v at height %d (validators at %d), %d versions, %d access entries",
			rep.Record, rep.Height, rep.Validators.Height, len(rep.Versions), len(rep.Access))
	}

	// Raw input: not a bundle, truncated, oversized, with unknown fields,
	// another chain's hash.
	rng := rand.New(rand.NewPCG(1, 2))
	junk := make([]byte, 2000)
	for i := range junk {
		junk[i] = byte(rng.Uint32())
	}
	other := bytes.Repeat([]byte{0xab}, 32)
	for _, tc := range []struct {
		name         string
		raw, hash    []byte
		part, reason string
	}{
		{"empty", nil, c.GenesisHash, "bundle", "empty"},
		{"garbage", junk, c.GenesisHash, "bundle", "does not decode as a ProofBundle"},
		{"oversized", make([]byte, lightclient.MaxBundleBytes+1), c.GenesisHash, "bundle", "at most 16777216"},
		{"unknown field", append(slices.Clone(good), 0xf8, 0x06, 0x01), c.GenesisHash, "bundle", "carries fields"},
		{"another chain", good, other, "genesis", "bundle is for another chain"},
		{"short genesis hash", good, c.GenesisHash[:31], "genesis", "31 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := lightclient.VerifyBundle(tc.raw, tc.hash)
			want(t, rep, err, tc.part, tc.reason)
		})
	}
	// Cut anywhere, the bundle fails: each cut either does not decode or
	// leaves a part out.
	for cut := 1; cut < len(good); cut += 1 + len(good)/97 {
		if rep, err := verify(good[:cut]); err == nil || rep.OK || len(rep.Failures) == 0 {
			t.Errorf("cut at %d of %d verified", cut, len(good))
		}
	}
	// Any single byte flipped, the bundle fails (sampled).
	for i := 0; i < len(good); i += 1 + len(good)/151 {
		raw := slices.Clone(good)
		raw[i] ^= 0x20
		if rep, err := verify(raw); err == nil || rep.OK {
			t.Errorf("byte %d of %d flipped: verified", i, len(good))
		}
	}
}

// A bundle at a past height holds the history up to it; a record with no
// access entry proves the counter's absence; a protected record's holds no
// content.
func TestBundleOtherRecords(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a node")
	}
	c := lightclienttest.NewChain(t)
	b := decode(t, c.Bundle(t, lightclienttest.Record, 0))
	past := decodeHeader(t, b.Anchors[b.Versions[1].Anchor].Header).GetStateHeight()
	rep, err := lightclient.VerifyBundle(c.Bundle(t, lightclienttest.Record, past), c.GenesisHash)
	if err != nil || rep.Height != past || rep.Record.Version != 2 || len(rep.Versions) != 2 || len(rep.Access) != 0 || rep.Validators.SetsFollowed != 0 {
		t.Errorf("at height %d: %v %+v", past, err, rep)
	}
	rep, err = lightclient.VerifyBundle(c.Bundle(t, lightclienttest.Fresh, 0), c.GenesisHash)
	if err != nil || rep.Record.Version != 1 || len(rep.Versions) != 1 || len(rep.Access) != 0 {
		t.Errorf("fresh record: %v %+v", err, rep)
	}

	// A protected record's bundle holds its content hash, never its
	// content.
	raw := c.Bundle(t, lightclienttest.Protected, 0)
	rep, err = lightclient.VerifyBundle(raw, c.GenesisHash)
	if err != nil || len(rep.Versions) != 1 || rep.Versions[0].Content != nil || len(rep.Versions[0].ContentHash) != 64 {
		t.Errorf("protected record: %v %+v", err, rep)
	}
	if bytes.Contains(raw, []byte("MARKER-5e1d")) {
		t.Error("a protected record's bundle carries its content")
	}
}

func decodeHeader(t *testing.T, raw []byte) *pb.Header {
	t.Helper()
	h := &pb.Header{}
	if err := proto.Unmarshal(raw, h); err != nil {
		t.Fatal(err)
	}
	return h
}

func itoa(i int) string { return strconv.Itoa(i) }

// VerifyBundleOf holds a bundle to what was asked: a good bundle of
// another record, or of another height, fails naming record_id or height.
func TestVerifyBundleOf(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a node")
	}
	c := lightclienttest.NewChain(t)
	good := c.Bundle(t, lightclienttest.Record, 0)
	h := decode(t, good).GetHeight()
	for _, asked := range []uint64{0, h} {
		if rep, err := lightclient.VerifyBundleOf(good, c.GenesisHash, lightclienttest.Record, asked); err != nil || !rep.OK {
			t.Errorf("asked for height %d: %v", asked, err)
		}
	}
	rep, err := lightclient.VerifyBundleOf(good, c.GenesisHash, lightclienttest.Fresh, 0)
	want(t, rep, err, "record_id", `the bundle is of record "lic-1", not of record "fresh-1", the one asked for`)
	rep, err = lightclient.VerifyBundleOf(good, c.GenesisHash, lightclienttest.Record, h-1)
	want(t, rep, err, "height", "the bundle is of height "+itoa(int(h))+", not of height "+itoa(int(h-1)))
	// A bundle that does not decode fails as it does for VerifyBundle.
	rep, err = lightclient.VerifyBundleOf([]byte("junk"), c.GenesisHash, lightclienttest.Record, 0)
	want(t, rep, err, "bundle", "does not decode")
}

// TestBundleSM2: on an "sm2-sm3" chain the bundle's genesis is known by
// its SM3 hash, every proof in it is checked with SM3 and every
// certificate with SM2, and a tampering is caught as on the default suite.
func TestBundleSM2(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a node")
	}
	c := lightclienttest.NewChainOf(t, crypto.SM2SM3)
	good := c.Bundle(t, lightclienttest.Record, 0)
	gb := decode(t, good)
	if sm3 := crypto.SM2SM3.Hash(gb.GetGenesis()); !bytes.Equal(sm3, c.GenesisHash) {
		t.Fatalf("genesis hash %x, the SM3 of the bundle's genesis is %x", c.GenesisHash, sm3)
	}
	rep, err := lightclient.VerifyBundle(good, c.GenesisHash)
	if err != nil || !rep.OK || len(rep.Versions) != lightclienttest.Versions || len(rep.Access) != lightclienttest.Accesses {
		t.Fatalf("good sm2-sm3 bundle: %v %+v", err, rep)
	}
	// The SHA-256 of the same genesis names no chain the bundle proves.
	sha := crypto.Ed25519SHA256.Hash(gb.GetGenesis())
	rep, err = lightclient.VerifyBundle(good, sha)
	want(t, rep, err, "genesis", "bundle is for another chain")
	// A changed version content is caught by the SM3 tree proof.
	gb.GetVersions()[0].Value = append([]byte(nil), gb.GetVersions()[0].GetValue()...)
	gb.GetVersions()[0].Value[len(gb.GetVersions()[0].Value)-1] ^= 1
	bad, err := proto.Marshal(gb)
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := lightclient.VerifyBundle(bad, c.GenesisHash); err == nil && rep.OK {
		t.Fatal("a tampered sm2-sm3 bundle verifies")
	}
}
