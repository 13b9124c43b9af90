package lightclient

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/govnode/govnode/consensus"
	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Format is the only ProofBundle.format a verifier accepts.
const Format = "govnode-bundle/1"

// Limits on a bundle, checked before anything in it is decoded or
// verified: a bundle is input from anyone (a file, an upload to the
// portal). The node builds no bundle above them (api.GetRecordBundle
// refuses with the limit's name).
const (
	// MaxBundleBytes bounds a serialized bundle.
	MaxBundleBytes = 16 << 20
	// MaxVersions bounds the versions of the record a bundle proves.
	MaxVersions = 4096
	// MaxAccessEntries bounds the access-log entries a bundle proves.
	MaxAccessEntries = 4096
	// MaxAnchors bounds the committed headers: one per version at most, one
	// per validator-set change and one for the record's height.
	MaxAnchors = MaxVersions + MaxValidatorSets + 1
	// MaxGenesisBytes bounds the genesis document a bundle carries.
	MaxGenesisBytes = 4 << 20
	// MaxIDBytes bounds the record id (the state machine's ids are shorter).
	MaxIDBytes = 256
)

// ErrNotVerified wraps VerifyBundle's error: some part of the bundle did
// not verify; the Report lists each.
var ErrNotVerified = errors.New("bundle NOT verified")

// VerifyBundle checks a serialized ProofBundle knowing only the chain's
// genesis hash (ARCHITECTURE.md §6, "Proof bundles"):
//
//   - the bundle is within the limits, decodes with no unknown field, and
//     its format is Format;
//   - its genesis hashes to genesisHash (else it is for another chain); the
//     genesis names the chain id and the validator set in force at 1;
//   - each validator set of validator_sets is proven in the state its root
//     block attests, and that block is committed under the set before
//     (FollowValidatorSets' rule);
//   - each anchor's header is committed (consensus.VerifyCommit), with its
//     chain of headers where its certificate commits a later block, by the
//     set in force at its height, and is of the genesis's chain; every
//     anchor is used by some proof;
//   - the record at rec/<id> in the state at height; versions 1..n (n the
//     record's version) in order, each RecordVersion of this record and
//     number, proven at a state height h with written <= h <= height
//     (written: its own height; see below); the access-log counter at
//     height and the entries 1..count in order; every value decodes to
//     the message its key holds;
//   - each tree proof reaches the state root of the header it names.
//
// A version is proven in the state the first committed header at or above
// its height attests: exactly its height, unless no header attests that
// state (a view change committed its block together with the next, so
// state_height jumped over it); the version key is written once and never
// changed (ledger/exec records.go refuses to overwrite it), so the value
// proven there is the value written.
//
// The Report is never nil. err is nil only if every check held; else it
// wraps ErrNotVerified, and the Report's failures name every part that
// failed (all that can be checked independently are: one bad version does
// not stop the others from being checked), and its record, versions and
// access hold only what verified.
func VerifyBundle(bundle, genesisHash []byte) (*Report, error) {
	v := &verifier{rep: &Report{Versions: []VersionReport{}, Access: []AccessReport{}, Failures: []Failure{},
		Validators: ValidatorsReport{Keys: []string{}}}}
	v.run(bundle, genesisHash)
	return v.finish()
}

// VerifyBundleWithGenesis is VerifyBundle trusting a genesis document
// instead of its hash: genesisDoc is the genesis file (JSON, as `govnode
// init` and `govnode genesis` write it) or its binary encoding; its hash is
// genesis.Hash's, the suite hash of the deterministic binary encoding.
func VerifyBundleWithGenesis(bundle, genesisDoc []byte) (*Report, error) {
	h, err := GenesisHash(genesisDoc)
	if err != nil {
		v := &verifier{rep: &Report{Versions: []VersionReport{}, Access: []AccessReport{}, Failures: []Failure{},
			Validators: ValidatorsReport{Keys: []string{}}}}
		v.fail("genesis", "%v", err)
		return v.finish()
	}
	return VerifyBundle(bundle, h)
}

// VerifyBundleOf is VerifyBundle for a bundle that was asked for: of
// record id, at height (0: any, the newest the node had). A bundle of
// another record or height, even one whose every proof holds, is not the
// answer: it fails, naming part "record_id" or "height". Whoever fetched a
// bundle from a node (the CLI's query record --bundle, the portal by
// record id) checks it with this, so that a node cannot answer one record
// with another's proven history.
func VerifyBundleOf(bundle, genesisHash []byte, id string, height uint64) (*Report, error) {
	v := &verifier{rep: &Report{Versions: []VersionReport{}, Access: []AccessReport{}, Failures: []Failure{},
		Validators: ValidatorsReport{Keys: []string{}}}}
	v.run(bundle, genesisHash)
	if v.b != nil {
		if got := v.b.GetRecordId(); got != id {
			v.fail("record_id", "the bundle is of record %s, not of record %s, the one asked for", quote(got), quote(id))
		}
		if got := v.b.GetHeight(); height != 0 && got != height {
			v.fail("height", "the bundle is of height %d, not of height %d, the one asked for", got, height)
		}
	}
	return v.finish()
}

func (v *verifier) finish() (*Report, error) {
	v.rep.OK = len(v.rep.Failures) == 0
	if v.rep.OK {
		return v.rep, nil
	}
	f := v.rep.Failures[0]
	more := ""
	if n := len(v.rep.Failures); n > 1 {
		more = fmt.Sprintf(" (and %d more)", n-1)
	}
	return v.rep, fmt.Errorf("%w: %s: %s%s", ErrNotVerified, f.Part, f.Reason, more)
}

// anchor is a decoded BundleAnchor and what is known of it.
type anchor struct {
	raw    []byte
	hdr    *pb.Header // nil: did not decode
	cert   *pb.CommitCert
	chain  [][]byte
	proven bool // committed under the set in force at its height
	set    *Set // that set, when proven
	used   bool
}

type verifier struct {
	rep      *Report
	b        *pb.ProofBundle
	chainID  string
	suite    crypto.Suite // the genesis's, set by genesis
	anchors  []anchor
	sets     []*Set // the genesis set, then each proven change, by From
	brokenAt int    // index of the first validator_sets entry that failed; -1: none
	// brokenFrom, when brokenAt >= 0, is the lowest height no proven set
	// is known to certify (setAt), worked out once by followSets: setAt
	// runs for every anchor, and the failed entry may be megabytes.
	brokenFrom uint64
}

// MaxReasonBytes bounds a Failure's reason: a reason quotes what it
// refuses (a key, a chain id, a hash), which a hostile bundle can make
// megabytes long, and thousands of parts can fail.
const MaxReasonBytes = 1024

func (v *verifier) fail(part, format string, a ...any) {
	// The protobuf library's errors put a no-break space in at random, so
	// that no one matches their text; a reason is for reading, and the
	// same bundle gives the same reasons.
	reason := strings.ReplaceAll(fmt.Sprintf(format, a...), "\u00a0", " ")
	v.rep.Failures = append(v.rep.Failures, Failure{Part: part, Reason: clip(reason, MaxReasonBytes)})
}

// quote is %q of a field a reason names, of at most 64 bytes of it.
func quote[T ~string | ~[]byte](s T) string {
	const n = 64
	if len(s) <= n {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%q… (%d bytes)", s[:n], len(s))
}

// clip cuts s to at most n bytes, at a character boundary, saying how
// much it left out.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "… (%d bytes cut)"
	cut := n - len(mark) - 10
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + fmt.Sprintf(mark, len(s)-cut)
}

func (v *verifier) run(raw, genesisHash []byte) {
	v.brokenAt = -1
	switch {
	case len(raw) == 0:
		v.fail("bundle", "empty")
		return
	case len(raw) > MaxBundleBytes:
		v.fail("bundle", "%d bytes, at most %d (MaxBundleBytes)", len(raw), MaxBundleBytes)
		return
	case len(genesisHash) != crypto.HashSize:
		v.fail("genesis", "the trusted genesis hash is %d bytes, want %d", len(genesisHash), crypto.HashSize)
		return
	}
	b := &pb.ProofBundle{}
	if err := proto.Unmarshal(raw, b); err != nil {
		v.fail("bundle", "does not decode as a ProofBundle: %v", err)
		return
	}
	if hasUnknown(b.ProtoReflect()) {
		v.fail("bundle", "carries fields a %s has not", Format)
		return
	}
	v.b = b
	if b.GetFormat() != Format {
		v.fail("format", "%s, want %q", quote(b.GetFormat()), Format)
		return
	}
	for _, c := range []struct {
		what   string
		n, max int
	}{
		{"anchors", len(b.GetAnchors()), MaxAnchors},
		{"validator_sets", len(b.GetValidatorSets()), MaxValidatorSets},
		{"versions", len(b.GetVersions()), MaxVersions},
		{"access_entries", len(b.GetAccessEntries()), MaxAccessEntries},
		{"genesis", len(b.GetGenesis()), MaxGenesisBytes},
	} {
		if c.n > c.max {
			v.fail(c.what, "%d, at most %d", c.n, c.max)
		}
	}
	if len(v.rep.Failures) > 0 {
		return
	}
	if !v.genesis(genesisHash) {
		return
	}
	id := b.GetRecordId()
	if err := checkRecordID(id); err != nil {
		v.fail("record_id", "%v", err)
		return
	}
	if b.GetHeight() == 0 {
		v.fail("height", "zero: no state is proven")
		return
	}
	v.decodeAnchors()
	v.followSets()
	v.proveAnchors()
	rec := v.record()
	v.versions(rec)
	v.access(rec)
}

// genesis checks the bundle's genesis against the trusted hash.
func (v *verifier) genesis(want []byte) bool {
	// The suite whose hash names the genesis is the one it names: a
	// document naming another suite than the trusted one's hashes to
	// another value, since SHA-256 and SM3 do not collide.
	doc := &pb.GenesisDoc{}
	if err := proto.Unmarshal(v.b.GetGenesis(), doc); err != nil {
		v.fail("genesis", "does not decode as a GenesisDoc: %v", err)
		return false
	}
	suite, err := crypto.SuiteByName(doc.GetCryptoSuite())
	if err != nil {
		v.fail("genesis", "%v", err)
		return false
	}
	if got := suite.Hash(v.b.GetGenesis()); !bytes.Equal(got, want) {
		v.fail("genesis", "bundle is for another chain: its genesis hashes to %x, not the trusted %x", got, want)
		return false
	}
	gs, err := GenesisSet(doc, want)
	if err != nil {
		v.fail("genesis", "%v", err)
		return false
	}
	v.chainID, v.suite = doc.GetChainId(), suite
	v.rep.ChainID = v.chainID
	v.rep.GenesisHash = hex.EncodeToString(want)
	v.sets = []*Set{gs}
	return true
}

func (v *verifier) decodeAnchors() {
	v.anchors = make([]anchor, len(v.b.GetAnchors()))
	for i, a := range v.b.GetAnchors() {
		part := fmt.Sprintf("anchors[%d]", i)
		an := &v.anchors[i]
		an.raw, an.cert, an.chain = a.GetHeader(), a.GetCert(), a.GetChain()
		hdr := &pb.Header{}
		switch {
		case len(a.GetHeader()) == 0:
			v.fail(part, "no header")
			continue
		case proto.Unmarshal(a.GetHeader(), hdr) != nil:
			v.fail(part, "header does not decode")
			continue
		case hdr.GetChainId() != v.chainID:
			v.fail(part, "header of block %d is of chain %s, the genesis of chain %q", hdr.GetHeight(), quote(hdr.GetChainId()), v.chainID)
			continue
		case hdr.GetCryptoSuite() != v.suite.HeaderName():
			v.fail(part, "header of block %d names crypto suite %s, the genesis %s", hdr.GetHeight(), quote(hdr.GetCryptoSuite()), v.suite)
			continue
		case a.GetCert() == nil:
			v.fail(part, "block %d has no commit certificate", hdr.GetHeight())
			continue
		case len(a.GetChain()) > consensus.MaxCertChain:
			v.fail(part, "block %d: %d chain headers, at most %d", hdr.GetHeight(), len(a.GetChain()), consensus.MaxCertChain)
			continue
		}
		an.hdr = hdr
	}
	mark := func(p *pb.BundleProof) {
		if p != nil && int64(p.GetAnchor()) < int64(len(v.anchors)) {
			v.anchors[p.GetAnchor()].used = true
		}
	}
	for _, p := range v.b.GetValidatorSets() {
		mark(p)
	}
	mark(v.b.GetRecord())
	for _, p := range v.b.GetVersions() {
		mark(p)
	}
	mark(v.b.GetAccessCount())
	for _, p := range v.b.GetAccessEntries() {
		mark(p)
	}
	for i := range v.anchors {
		if !v.anchors[i].used {
			v.fail(fmt.Sprintf("anchors[%d]", i), "no proof rests on it")
		}
	}
}

// anchorOf returns the decoded anchor a proof names, or a reason.
func (v *verifier) anchorOf(p *pb.BundleProof) (*anchor, string) {
	i := p.GetAnchor()
	if int64(i) >= int64(len(v.anchors)) {
		return nil, fmt.Sprintf("names anchor %d; the bundle has %d", i, len(v.anchors))
	}
	a := &v.anchors[i]
	if a.hdr == nil {
		return nil, fmt.Sprintf("rests on anchor %d, which does not decode (see anchors[%d])", i, i)
	}
	return a, ""
}

// maxAnchorHeight is the highest block among the decoded anchors.
func (v *verifier) maxAnchorHeight() uint64 {
	var h uint64
	for _, a := range v.anchors {
		if a.hdr != nil {
			h = max(h, a.hdr.GetHeight())
		}
	}
	return h
}

// followSets walks validator_sets from the genesis set (FollowValidatorSets'
// rule, over anchors); it stops at the first that fails, as every set after
// it is proven under it.
func (v *verifier) followSets() {
	top := v.maxAnchorHeight()
	for i, p := range v.b.GetValidatorSets() {
		part := fmt.Sprintf("validator_sets[%d]", i)
		cur := v.sets[len(v.sets)-1]
		next, err := v.nextSet(p, cur, top)
		if err != nil {
			v.fail(part, "validator-set change %d of %d: %v", i+1, len(v.b.GetValidatorSets()), err)
			v.brokenAt = i
			// The failed link's effective height, when it is known, bounds
			// what the sets before it certify; else nothing above the last
			// proven set's start is known.
			v.brokenFrom = cur.From + 1
			vs := &pb.ValidatorSet{}
			if p != nil && proto.Unmarshal(p.GetValue(), vs) == nil && vs.GetEffectiveHeight() > v.brokenFrom {
				v.brokenFrom = vs.GetEffectiveHeight()
			}
			return
		}
		v.sets = append(v.sets, next)
	}
}

func (v *verifier) nextSet(p *pb.BundleProof, cur *Set, top uint64) (*Set, error) {
	if p == nil || len(p.GetValue()) == 0 {
		return nil, errors.New("no validator set record")
	}
	a, why := v.anchorOf(p)
	if a == nil {
		return nil, errors.New(why)
	}
	vs := &pb.ValidatorSet{}
	if err := proto.Unmarshal(p.GetValue(), vs); err != nil {
		return nil, fmt.Errorf("the record does not decode as a ValidatorSet: %v", err)
	}
	e := vs.GetEffectiveHeight()
	if want := ValidatorSetKey(e); !bytes.Equal(p.GetKey(), want) {
		return nil, fmt.Errorf("the proof is for key %s, not %q", quote(p.GetKey()), want)
	}
	if err := CheckTree(v.suite, a.hdr.GetStateRoot(), p.GetKey(), p.GetValue(), p.GetProof()); err != nil {
		return nil, fmt.Errorf("the set in force from %d: %v (anchor %d, block %d)", e, err, p.GetAnchor(), a.hdr.GetHeight())
	}
	next, err := nextSet(cur, vs, a.hdr, a.raw, a.cert, a.chain, top)
	if err != nil {
		return nil, err
	}
	a.proven, a.set = true, cur
	return next, nil
}

// setAt is the proven set in force at block h, or nil when the walk broke
// below h.
func (v *verifier) setAt(h uint64) *Set {
	if v.brokenAt >= 0 && h >= v.brokenFrom {
		return nil
	}
	var s *Set
	for _, c := range v.sets {
		if c.From <= h {
			s = c
		}
	}
	return s
}

func (v *verifier) proveAnchors() {
	for i := range v.anchors {
		a := &v.anchors[i]
		if a.hdr == nil || a.proven {
			continue
		}
		part := fmt.Sprintf("anchors[%d]", i)
		h := a.hdr.GetHeight()
		s := v.setAt(h)
		if s == nil {
			v.fail(part, "block %d: no proven validator set is in force at its height (validator_sets[%d] did not verify)", h, v.brokenAt)
			continue
		}
		if err := s.CheckCommitted(a.hdr, a.raw, a.cert, a.chain); err != nil {
			v.fail(part, "commit certificate: %v", err)
			continue
		}
		a.proven, a.set = true, s
	}
}

// proof checks p proves key (present: with a value; else p's value, empty,
// means absent) against its anchor's state root, and that the anchor is
// proven. It returns the anchor's header, or nil after recording why.
func (v *verifier) proof(part string, p *pb.BundleProof, key []byte, present bool) *pb.Header {
	if p == nil {
		v.fail(part, "missing")
		return nil
	}
	if !bytes.Equal(p.GetKey(), key) {
		v.fail(part, "proves key %s, not %q", quote(p.GetKey()), key)
		return nil
	}
	value := p.GetValue()
	if present && len(value) == 0 {
		v.fail(part, "carries no value")
		return nil
	}
	if !present {
		value = nil
	}
	a, why := v.anchorOf(p)
	if a == nil {
		v.fail(part, "%s", why)
		return nil
	}
	ok := true
	if err := CheckTree(v.suite, a.hdr.GetStateRoot(), key, value, p.GetProof()); err != nil {
		v.fail(part, "tree proof does not reach the state root of anchor %d (height %d): %v", p.GetAnchor(), a.hdr.GetHeight(), err)
		ok = false
	}
	if !a.proven {
		v.fail(part, "rests on anchor %d (block %d), which is not proven committed (see anchors[%d])", p.GetAnchor(), a.hdr.GetHeight(), p.GetAnchor())
		ok = false
	}
	if !ok {
		return nil
	}
	return a.hdr
}

// atHeight checks a proof's header attests the bundle's height.
func (v *verifier) atHeight(part string, p *pb.BundleProof, hdr *pb.Header) bool {
	if hdr.GetStateHeight() != v.b.GetHeight() {
		v.fail(part, "proven against anchor %d (block %d), which attests state height %d, not the bundle's height %d",
			p.GetAnchor(), hdr.GetHeight(), hdr.GetStateHeight(), v.b.GetHeight())
		return false
	}
	return true
}

func (v *verifier) record() *pb.Record {
	id := v.b.GetRecordId()
	p := v.b.GetRecord()
	hdr := v.proof("record", p, RecordKey(id), true)
	if hdr == nil || !v.atHeight("record", p, hdr) {
		return nil
	}
	rec := &pb.Record{}
	if err := proto.Unmarshal(p.GetValue(), rec); err != nil {
		v.fail("record", "the value at %s does not decode as a Record: %v", RecordKey(id), err)
		return nil
	}
	if rec.GetId() != id {
		v.fail("record", "the Record at %s is record %q", RecordKey(id), rec.GetId())
		return nil
	}
	if rec.GetVersion() == 0 {
		v.fail("record", "record %s has no version", id)
		return nil
	}
	if rec.GetVersion() > MaxVersions {
		v.fail("record", "record %s has %d versions; a bundle proves at most %d (MaxVersions)", id, rec.GetVersion(), MaxVersions)
		return nil
	}
	v.rep.Record, v.rep.Height = recordReport(rec), v.b.GetHeight()
	s := v.anchors[p.GetAnchor()].set
	v.rep.Validators.Height = hdr.GetHeight()
	for _, k := range s.Config.Validators {
		v.rep.Validators.Keys = append(v.rep.Validators.Keys, hex.EncodeToString(k.GetKey()))
	}
	for i, c := range v.sets {
		if c == s {
			v.rep.Validators.SetsFollowed = i
		}
	}
	return rec
}

func (v *verifier) versions(rec *pb.Record) {
	id := v.b.GetRecordId()
	vs := v.b.GetVersions()
	n := uint64(len(vs))
	if rec != nil {
		n = rec.GetVersion()
	}
	var prevHeight uint64
	for i, p := range vs {
		part := fmt.Sprintf("versions[%d]", i)
		want := uint64(i) + 1
		if want > n {
			v.fail(part, "the record has %d versions; the bundle has more", n)
			continue
		}
		key := RecordVersionKey(id, want)
		if p != nil && !bytes.Equal(p.GetKey(), key) {
			got := &pb.RecordVersion{}
			if proto.Unmarshal(p.GetValue(), got) == nil && got.GetRecordId() == id && got.GetVersion() != 0 && got.GetVersion() != want {
				v.fail(part, "holds version %d where version %d belongs: a version is missing or out of order", got.GetVersion(), want)
			} else {
				v.fail(part, "proves key %s, not version %d's key %q", quote(p.GetKey()), want, key)
			}
			continue
		}
		hdr := v.proof(part, p, key, true)
		if hdr == nil {
			continue
		}
		rv := &pb.RecordVersion{}
		if err := proto.Unmarshal(p.GetValue(), rv); err != nil {
			v.fail(part, "the value at %s does not decode as a RecordVersion: %v", key, err)
			continue
		}
		switch {
		case rv.GetRecordId() != id || rv.GetVersion() != want:
			v.fail(part, "the value at %s is version %d of record %q", key, rv.GetVersion(), rv.GetRecordId())
			continue
		case rv.GetHeight() == 0:
			v.fail(part, "version %d has no height", want)
			continue
		case hdr.GetStateHeight() < rv.GetHeight():
			v.fail(part, "version %d, written at height %d, is proven at state height %d, before it", want, rv.GetHeight(), hdr.GetStateHeight())
			continue
		case hdr.GetStateHeight() > v.b.GetHeight():
			v.fail(part, "version %d is proven at state height %d, above the bundle's height %d", want, hdr.GetStateHeight(), v.b.GetHeight())
			continue
		case rv.GetHeight() < prevHeight:
			v.fail(part, "version %d was written at height %d, before version %d (height %d)", want, rv.GetHeight(), want-1, prevHeight)
			continue
		}
		prevHeight = rv.GetHeight()
		v.rep.Versions = append(v.rep.Versions, versionReport(rv, hdr.GetStateHeight()))
	}
	if rec != nil && n > uint64(len(vs)) {
		if n-uint64(len(vs)) == 1 {
			v.fail("versions", "missing version %d of %d", n, n)
		} else {
			v.fail("versions", "missing versions %d to %d of %d", len(vs)+1, n, n)
		}
	}
	if rec == nil && len(vs) > 0 {
		// Each version checked, but without the record nothing says the
		// list is whole: the report shows none of them as verified.
		v.rep.Versions = v.rep.Versions[:0]
	}
}

func (v *verifier) access(rec *pb.Record) {
	id := v.b.GetRecordId()
	p := v.b.GetAccessCount()
	count := uint64(0)
	countOK := false
	if p != nil {
		present := len(p.GetValue()) > 0
		if hdr := v.proof("access_count", p, AccessCountKey(id), present); hdr != nil && v.atHeight("access_count", p, hdr) {
			switch {
			case present && len(p.GetValue()) != 8:
				v.fail("access_count", "the counter is %d bytes, want 8", len(p.GetValue()))
			case present:
				count = binary.BigEndian.Uint64(p.GetValue())
				countOK = true
			default:
				countOK = true
			}
		}
	} else {
		v.fail("access_count", "missing")
	}
	if countOK && count > MaxAccessEntries {
		v.fail("access_count", "record %s has %d access entries; a bundle proves at most %d (MaxAccessEntries)", id, count, MaxAccessEntries)
		countOK = false
	}
	es := v.b.GetAccessEntries()
	n := uint64(len(es))
	if countOK {
		n = count
	}
	for i, p := range es {
		part := fmt.Sprintf("access_entries[%d]", i)
		want := uint64(i) + 1
		if want > n {
			v.fail(part, "the access log has %d entries; the bundle has more", n)
			continue
		}
		key := AccessEntryKey(id, want)
		if p != nil && !bytes.Equal(p.GetKey(), key) {
			v.fail(part, "proves key %s, not entry %d's key %q: an entry is missing or out of order", quote(p.GetKey()), want, key)
			continue
		}
		hdr := v.proof(part, p, key, true)
		if hdr == nil || !v.atHeight(part, p, hdr) {
			continue
		}
		e := &pb.AccessEntry{}
		if err := proto.Unmarshal(p.GetValue(), e); err != nil {
			v.fail(part, "the value at %s does not decode as an AccessEntry: %v", key, err)
			continue
		}
		if e.GetRecordId() != id || e.GetSeq() != want {
			v.fail(part, "the value at %s is entry %d of record %q", key, e.GetSeq(), e.GetRecordId())
			continue
		}
		v.rep.Access = append(v.rep.Access, accessReport(e))
	}
	if countOK && n > uint64(len(es)) {
		if n-uint64(len(es)) == 1 {
			v.fail("access_entries", "missing access entry %d of %d", n, n)
		} else {
			v.fail("access_entries", "missing access entries %d to %d of %d", len(es)+1, n, n)
		}
	}
	if !countOK || rec == nil {
		v.rep.Access = v.rep.Access[:0]
	}
}

// checkRecordID refuses an id no record can have in a way that makes keys
// ambiguous: empty, too long, a '/', a control or non-ASCII byte.
func checkRecordID(id string) error {
	if id == "" || len(id) > MaxIDBytes {
		return fmt.Errorf("%d bytes, want 1 to %d", len(id), MaxIDBytes)
	}
	if i := strings.IndexFunc(id, func(r rune) bool { return r == '/' || r <= ' ' || r > '~' }); i >= 0 {
		return fmt.Errorf("%q has a character no id has at byte %d", id, i)
	}
	return nil
}

// hasUnknown reports whether m or any message in it carries fields its
// type does not define: a bundle is refused rather than partly ignored.
func hasUnknown(m protoreflect.Message) bool {
	if len(m.GetUnknown()) > 0 {
		return true
	}
	found := false
	m.Range(func(fd protoreflect.FieldDescriptor, val protoreflect.Value) bool {
		if fd.Kind() != protoreflect.MessageKind && fd.Kind() != protoreflect.GroupKind {
			return true
		}
		switch {
		case fd.IsList():
			l := val.List()
			for i := 0; i < l.Len() && !found; i++ {
				found = hasUnknown(l.Get(i).Message())
			}
		case fd.IsMap():
		default:
			found = hasUnknown(val.Message())
		}
		return !found
	})
	return found
}

// GenesisHash is the hash a genesis document is known by (genesis.Hash):
// the hash of the suite it names over its deterministic binary encoding.
// doc is the JSON genesis file or the binary encoding.
func GenesisHash(doc []byte) ([]byte, error) {
	if len(doc) > MaxGenesisBytes {
		return nil, fmt.Errorf("genesis of %d bytes, at most %d", len(doc), MaxGenesisBytes)
	}
	g := &pb.GenesisDoc{}
	if err := decodeGenesis(doc, g); err != nil {
		return nil, err
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(g)
	if err != nil {
		return nil, fmt.Errorf("encode genesis: %w", err)
	}
	suite, err := crypto.SuiteByName(g.GetCryptoSuite())
	if err != nil {
		return nil, err
	}
	return suite.Hash(b), nil
}
