package exec_test

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/exec/exectest"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// gen produces random, often invalid, transactions over a fixture chain.
// It reads the committed state of one chain to pick plausible arguments.
type gen struct {
	rng     *rand.Rand
	crng    *rand.Rand // the commitments' choices, apart so as not to shift rng's stream
	f       *exectest.Fixture
	st      *exectest.Store
	keys    map[string]crypto.PrivateKey // public key bytes → private key
	ids     []string                     // every identity ever registered (or tried)
	records []string
	birth   []string // records created as birth certificates (protected)
	grants  []string
	ctrs    []string
	n       int
	pending map[string]uint64 // nonces used in the block being built
}

func newGen(seed uint64, f *exectest.Fixture, st *exectest.Store) *gen {
	g := &gen{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), crng: rand.New(rand.NewPCG(seed, seed^0x51afd6c3)), f: f, st: st, keys: map[string]crypto.PrivateKey{}}
	for id, s := range f.Signers {
		g.keys[string(s.Key.Public().GetKey())] = s.Key
		g.ids = append(g.ids, id)
	}
	slices.Sort(g.ids)
	return g
}

func (g *gen) pick(xs []string) string {
	if len(xs) == 0 {
		return "none"
	}
	return xs[g.rng.IntN(len(xs))]
}

func (g *gen) officials(suffix string) []string {
	var out []string
	for _, d := range g.f.Depts {
		out = append(out, d+suffix)
	}
	return out
}

func (g *gen) newKey(label string) *pb.PublicKey {
	g.n++
	k := exectest.NewKey(fmt.Sprintf("%s#%d", label, g.n))
	g.keys[string(k.Public().GetKey())] = k
	return k.Public()
}

// signAs signs body as id with its current committed key (or a wrong key
// now and then) and the next nonce.
func (g *gen) signAs(id string, body *pb.TxBody) []byte {
	idn, err := exec.Identity(g.st, id)
	key := exectest.NewKey("unknown/" + id)
	if err == nil {
		if k, ok := g.keys[string(idn.GetPublicKey().GetKey())]; ok {
			key = k
		}
	}
	next, _ := exec.Nonce(g.st, id)
	next += g.pending[id] + 1
	switch g.rng.IntN(50) {
	case 0:
		key = exectest.NewKey("wrong")
	case 1:
		next += 1 + uint64(g.rng.IntN(3))
	default:
		g.pending[id]++
	}
	body.ChainId, body.Signer, body.Nonce = exectest.ChainID, id, next
	return exectest.SignBody(key, body)
}

func (g *gen) tx(nowSec int64) []byte {
	r := g.rng
	anyone := g.pick(g.ids)
	switch r.IntN(25) {
	case 0:
		g.n++
		id := fmt.Sprintf("s%d", g.n)
		g.ids = append(g.ids, id)
		b := regSubject(id, citizen)
		b.GetRegisterSubject().PublicKey = g.newKey(id)
		return g.signAs(g.pick(append(g.officials(".registrar"), anyone)), b)
	case 1:
		statuses := []pb.IdentityStatus{active, suspended, revoked}
		signer := g.pick(append(g.officials(".registrar"), g.officials(".admin")...))
		if r.IntN(2) == 0 {
			signer, anyone = "d0.registrar", g.pick([]string{"cit0", "cit1", "cit2", "cit3", "co0"})
		}
		st := statuses[0]
		switch n := r.IntN(12); { // revocation is rarer: it is final
		case n == 0:
			st = statuses[2]
		case n < 6:
			st = statuses[1]
		}
		return g.signAs(signer, setStatus(anyone, st, "random"))
	case 2:
		if r.IntN(2) == 0 {
			return g.signAs(anyone, rotate(anyone, g.newKey(anyone), ""))
		}
		return g.signAs(g.pick(g.officials(".registrar")), rotate(anyone, g.newKey(anyone), "lost"))
	case 3, 4:
		g.n++
		id := fmt.Sprintf("r%d", g.n)
		g.records = append(g.records, id)
		typ := g.pick([]string{exectest.LandTitle, exectest.BirthCert, exectest.BusinessLicense})
		var b *pb.TxBody
		subj := g.pick([]string{"cit0", "cit1", "cit2", "cit3", anyone})
		if typ == exectest.BirthCert {
			c := hash(id)
			if len(g.birth) > 0 && g.crng.IntN(4) == 0 { // another birth certificate's commitment
				c = hash(g.birth[g.crng.IntN(len(g.birth))])
			}
			g.birth = append(g.birth, id)
			b = createRecHash(id, typ, subj, c)
		} else {
			b = createRec(id, typ, subj, []byte("content "+id))
		}
		issuer := map[string]string{exectest.LandTitle: "d0.issuer", exectest.BirthCert: "d1.issuer", exectest.BusinessLicense: "d1.issuer"}[typ]
		return g.signAs(g.pick([]string{issuer, issuer, issuer, g.pick(g.officials(".issuer")), anyone}), b)
	case 5:
		rec := g.pick(g.records)
		v := uint64(1)
		if rr, err := exec.Record(g.st, rec); err == nil {
			v = rr.GetVersion()
		}
		if r.IntN(5) == 0 {
			v--
		}
		if slices.Contains(g.birth, rec) {
			// Its own commitment again, a new one, or another's.
			c := []string{rec, fmt.Sprintf("%s amended %d", rec, g.n), g.birth[g.crng.IntN(len(g.birth))]}[g.crng.IntN(3)]
			return g.signAs(g.pick(g.officials(".issuer")), amendHash(rec, v, hash(c)))
		}
		return g.signAs(g.pick(g.officials(".issuer")), amendRec(rec, v, []byte(fmt.Sprintf("amended %d", g.n))))
	case 6:
		rec := g.pick(g.records)
		holder := anyone
		if rr, err := exec.Record(g.st, rec); err == nil && r.IntN(4) > 0 {
			holder = rr.GetHolderId()
		}
		return g.signAs(holder, consent(rec, g.pick(g.ids), nowSec+int64(r.IntN(7200))-600))
	case 7:
		rec := g.pick(g.records)
		to := g.pick(g.ids)
		if c, err := exec.TransferConsent(g.st, rec); err == nil && r.IntN(3) > 0 {
			to = c.GetNewHolderId()
		}
		return g.signAs(g.pick(g.officials(".issuer")), transfer(rec, to))
	case 8:
		return g.signAs(g.pick(g.officials(".issuer")), revokeRec(g.pick(g.records), "random"))
	case 9, 10, 11:
		if gr, err := exec.Grant(g.st, g.pick(g.grants)); err == nil && r.IntN(2) == 0 && gr.GetRecordId() != "" {
			return g.signAs(gr.GetGranteeDepartmentId()+".auditor", access(gr.GetRecordId(), "with consent"))
		}
		return g.signAs(g.pick(append(g.officials(".auditor"), g.pick(g.officials(".issuer")), anyone)), access(g.pick(g.records), "check"))
	case 12, 13:
		g.n++
		id := fmt.Sprintf("g%d", g.n)
		g.grants = append(g.grants, id)
		rec := g.pick(g.records)
		subj := anyone
		if rr, err := exec.Record(g.st, rec); err == nil && r.IntN(4) > 0 {
			subj = rr.GetSubjectId()
		}
		until := nowSec + int64(r.IntN(4*day)) - 600
		if r.IntN(3) == 0 {
			return g.signAs(subj, grant(id, g.pick(g.f.Depts), "", g.pick([]string{exectest.LandTitle, exectest.BirthCert}), until))
		}
		return g.signAs(subj, grant(id, g.pick(g.f.Depts), rec, "", until))
	case 14:
		gid := g.pick(g.grants)
		signer := anyone
		if gr, err := exec.Grant(g.st, gid); err == nil && r.IntN(4) > 0 {
			signer = gr.GetGrantorId()
		}
		return g.signAs(signer, revokeGrant(gid))
	case 15:
		g.n++
		id := fmt.Sprintf("c%d", g.n)
		g.ctrs = append(g.ctrs, id)
		buyer := g.pick(g.officials(".issuer"))
		return g.signAs(buyer, createTender(id, buyer, g.pick([]string{"co0", anyone}), nowSec+int64(r.IntN(3*day)), int64(r.IntN(day))))
	case 16, 17:
		c := g.pick(g.ctrs)
		signer := anyone
		if cc, err := exec.Contract(g.st, c); err == nil {
			signer = cc.GetParties()[r.IntN(len(cc.GetParties()))].GetIdentityId()
		}
		return g.signAs(signer, sign(c))
	case 18:
		c := g.pick(g.ctrs)
		ms := g.pick([]string{"goods_delivered", "final_inspection"})
		if cc, err := exec.Contract(g.st, c); err == nil {
			if r.IntN(2) == 0 {
				return g.signAs(cc.GetParties()[1].GetIdentityId(), submitMS(c, ms))
			}
			return g.signAs(cc.GetParties()[0].GetIdentityId(), acceptMS(c, ms))
		}
		return g.signAs(anyone, submitMS(c, ms))
	case 19, 20:
		c := g.pick(g.ctrs)
		signer := anyone
		if cc, err := exec.Contract(g.st, c); err == nil {
			signer = cc.GetParties()[r.IntN(len(cc.GetParties()))].GetIdentityId()
		}
		return g.signAs(signer, fire(c, g.pick([]string{"deliver", "complete", "terminate_for_breach", "withdraw"})))
	case 22:
		rec := g.pick(g.records)
		if r.IntN(2) == 0 {
			rec = g.pick(g.birth)
		}
		signer, basis := g.pick(append(g.officials(".issuer"), anyone)), ""
		if rr, err := exec.Record(g.st, rec); err == nil && r.IntN(2) == 0 {
			signer = rr.GetSubjectId()
		}
		if r.IntN(3) > 0 {
			basis = "GDPR art. 17"
		}
		return g.signAs(signer, erase(rec, "random", basis))
	case 23, 24:
		signer := exec.ValidatorIdentityID(g.pick(g.f.Depts))
		if r.IntN(10) == 0 {
			signer = anyone
		}
		cs := make([]*pb.ContentAccess, 1+r.IntN(2))
		for i := range cs {
			rec := g.pick(g.birth)
			if r.IntN(5) == 0 {
				rec = g.pick(g.records)
			}
			accessor := g.pick(append(g.officials(".auditor"), g.officials(".issuer")...))
			if rr, err := exec.Record(g.st, rec); err == nil && r.IntN(2) == 0 {
				accessor = g.pick([]string{rr.GetSubjectId(), rr.GetHolderId()})
			} else if gr, err := exec.Grant(g.st, g.pick(g.grants)); err == nil && r.IntN(2) == 0 {
				rec, accessor = gr.GetRecordId(), gr.GetGranteeDepartmentId()+".issuer"
			}
			basis := ""
			if r.IntN(4) == 0 {
				basis = "Audit Act s.4"
			}
			cs[i] = release(rec, accessor, "random", basis, g.pick([]string{exec.ChannelQuery, exec.ChannelEvents}))
		}
		return g.signAs(signer, recordAccesses(cs...))
	default:
		return g.signAs(g.pick(g.officials(".registrar")), regSubject(anyone, company))
	}
}

// invariants holds what the randomized test has seen so far.
type invariants struct {
	versions     map[string][]byte // recv key → bytes
	finals       map[string]*pb.Contract
	granted      int               // successful accesses that needed a grant
	revokedTried int               // txs signed by revoked identities
	erased       map[string]uint64 // record → height its content was erased
	released     int               // accesses logged by RecordAccesses
	commits      map[string]string // protected commitment (hex) → record
	stolen       int               // versions refused for another record's commitment
	depts        int               // departments, each with the fixture's opening budget
}

func (iv *invariants) check(t *testing.T, ex *exectest.Store, before *exectest.Store, hdr *pb.Header, txs [][]byte, res *exec.BlockResult) {
	t.Helper()
	// 1. A revoked identity never signs a successful tx.
	revokedNow := map[string]bool{}
	revokedGrant := map[string]bool{}
	for i, tx := range txs {
		r := res.Results[i]
		_, body, err := exec.DecodeTx(tx)
		if err == nil {
			if idn, e2 := exec.Identity(before, body.GetSigner()); e2 == nil && idn.GetStatus() == revoked {
				iv.revokedTried++
			}
		}
		if r.GetCode() == codeConflict && strings.Contains(r.GetReason(), "each protected payload belongs to one record") {
			iv.stolen++
		}
		if r.GetCode() == codeOK {
			if err != nil {
				t.Fatalf("undecodable tx succeeded")
			}
			if idn, err := exec.Identity(before, body.GetSigner()); err == nil && idn.GetStatus() == revoked || revokedNow[body.GetSigner()] {
				t.Fatalf("height %d tx %d: revoked identity %s signed successfully", hdr.GetHeight(), i, body.GetSigner())
			}
			// 4. Access without a needed grant never succeeds.
			if a := body.GetAccessRecord(); a != nil {
				iv.checkAccess(t, ex, before, hdr, r.GetTxHash(), body, a, revokedGrant)
			}
			// 5. Erased content is never amended, erased again or
			// released; only protected content is.
			iv.checkPersonal(t, ex, before, hdr, body)
		}
		for _, ev := range r.GetEvents() {
			if ie := ev.GetIdentity(); ie != nil && ie.GetStatus() == revoked {
				revokedNow[ie.GetIdentityId()] = true
			}
			if ge := ev.GetGrant(); ge != nil && ge.GetAction() == "revoked" {
				revokedGrant[ge.GetGrantId()] = true
			}
		}
	}
	// An erasure is final.
	for id, h := range iv.erased {
		if r, err := exec.Record(ex, id); err != nil || r.GetErasedHeight() != h {
			t.Fatalf("record %s erased at %d, now %v (%v)", id, h, r, err)
		}
	}
	// 2. Record versions are append-only, and a record's version is its count.
	counts := map[string]uint64{}
	seen := map[string]bool{}
	for _, k := range ex.Keys() {
		if !bytes.HasPrefix([]byte(k), []byte("recv/")) {
			continue
		}
		v, _ := ex.Get([]byte(k))
		if old, ok := iv.versions[k]; ok && !bytes.Equal(old, v) {
			t.Fatalf("record version %s rewritten", k)
		}
		iv.versions[k] = v
		seen[k] = true
		rv := &pb.RecordVersion{}
		if err := proto.Unmarshal(v, rv); err != nil {
			t.Fatal(err)
		}
		counts[rv.GetRecordId()]++
		// 6. A protected commitment belongs to one record, for good.
		rec, err := exec.Record(ex, rv.GetRecordId())
		if err != nil {
			t.Fatal(err)
		}
		if typ, err := exec.RecordType(ex, rec.GetRecordType()); err != nil || !exec.IsProtected(typ) {
			continue
		}
		c := fmt.Sprintf("%x", rv.GetContentHash())
		if owner, ok := iv.commits[c]; ok && owner != rec.GetId() {
			t.Fatalf("height %d: records %s and %s share the commitment %s", hdr.GetHeight(), owner, rec.GetId(), c)
		}
		iv.commits[c] = rec.GetId()
	}
	for c, owner := range iv.commits {
		b, _ := hex.DecodeString(c)
		if got, err := exec.ProtectedCommitmentRecord(ex, b); err != nil || got != owner {
			t.Fatalf("height %d: commitment %s of record %s indexed for %q (%v)", hdr.GetHeight(), c, owner, got, err)
		}
	}
	for k := range iv.versions {
		if !seen[k] {
			t.Fatalf("record version %s deleted", k)
		}
	}
	for id, n := range counts {
		r, err := exec.Record(ex, id)
		if err != nil || r.GetVersion() != n {
			t.Fatalf("record %s: version %d, %d versions stored (%v)", id, r.GetVersion(), n, err)
		}
	}
	// 7. Money is conserved: no funding here, so budgets, accounts and
	// escrows hold the opening budgets (money_property_test.go checks
	// more, with funding).
	if b, a, esc := ledgerTotal(t, ex); b+a+esc != int64(iv.depts)*exectest.DeptBudget {
		t.Fatalf("height %d: budgets %d + accounts %d + escrows %d, want %d", hdr.GetHeight(), b, a, esc, int64(iv.depts)*exectest.DeptBudget)
	}
	// 3. A contract in a final state never moves.
	for _, k := range ex.Keys() {
		if !bytes.HasPrefix([]byte(k), []byte("ctr/")) {
			continue
		}
		c, err := exec.Contract(ex, k[len("ctr/"):])
		if err != nil {
			t.Fatal(err)
		}
		if old, ok := iv.finals[c.GetId()]; ok {
			if !proto.Equal(old, c) {
				t.Fatalf("contract %s moved from final state %s to %s", c.GetId(), old.GetState(), c.GetState())
			}
			continue
		}
		if slices.Contains(exec.TenderTemplate().GetFinalStates(), c.GetState()) {
			iv.finals[c.GetId()] = c
		}
	}
}

func (iv *invariants) checkPersonal(t *testing.T, after, before *exectest.Store, hdr *pb.Header, body *pb.TxBody) {
	t.Helper()
	protectedRecord := func(id string) *pb.Record {
		rec, err := exec.Record(after, id)
		if err != nil {
			t.Fatalf("record %s: %v", id, err)
		}
		typ, err := exec.RecordType(after, rec.GetRecordType())
		if err != nil || !exec.IsProtected(typ) {
			t.Fatalf("height %d: %T of record %s of public type %s", hdr.GetHeight(), body.GetAction(), id, rec.GetRecordType())
		}
		return rec
	}
	erasedBefore := func(id string) bool {
		rec, err := exec.Record(before, id)
		return err == nil && rec.GetErasedHeight() != 0
	}
	switch a := body.GetAction().(type) {
	case *pb.TxBody_AmendRecord:
		if erasedBefore(a.AmendRecord.GetRecordId()) {
			t.Fatalf("height %d: erased record %s amended", hdr.GetHeight(), a.AmendRecord.GetRecordId())
		}
	case *pb.TxBody_EraseRecordContent:
		id := a.EraseRecordContent.GetRecordId()
		rec := protectedRecord(id)
		if erasedBefore(id) || iv.erased[id] != 0 || rec.GetErasedHeight() != hdr.GetHeight() {
			t.Fatalf("height %d: record %s erased again (%d, before at %d)", hdr.GetHeight(), id, rec.GetErasedHeight(), iv.erased[id])
		}
		iv.erased[id] = hdr.GetHeight()
	case *pb.TxBody_RecordAccesses:
		for _, c := range a.RecordAccesses.GetAccesses() {
			protectedRecord(c.GetRecordId())
			if erasedBefore(c.GetRecordId()) {
				t.Fatalf("height %d: erased record %s released", hdr.GetHeight(), c.GetRecordId())
			}
			iv.released++
		}
	}
}

func (iv *invariants) checkAccess(t *testing.T, after, before *exectest.Store, hdr *pb.Header, txHash []byte, body *pb.TxBody, a *pb.AccessRecord, revokedInBlock map[string]bool) {
	t.Helper()
	rec, err := exec.Record(after, a.GetRecordId())
	if err != nil {
		t.Fatalf("accessed record %s missing: %v", a.GetRecordId(), err)
	}
	typ, err := exec.RecordType(after, rec.GetRecordType())
	if err != nil {
		t.Fatal(err)
	}
	accessor, err := exec.Identity(after, body.GetSigner())
	if err != nil {
		t.Fatal(err)
	}
	if !typ.GetAccessNeedsConsent() || accessor.GetDepartmentId() == rec.GetIssuerDepartmentId() {
		return
	}
	log, err := exec.AccessLog(after, rec.GetId(), 0)
	if err != nil {
		t.Fatal(err)
	}
	var entry *pb.AccessEntry
	for _, e := range log {
		if bytes.Equal(e.GetTxHash(), txHash) {
			entry = e
		}
	}
	if entry == nil || entry.GetGrantId() == "" {
		t.Fatalf("access to %s by %s (department %s) without a grant", rec.GetId(), accessor.GetId(), accessor.GetDepartmentId())
	}
	g, err := exec.Grant(after, entry.GetGrantId())
	if err != nil {
		t.Fatalf("grant %s: %v", entry.GetGrantId(), err)
	}
	if old, err := exec.Grant(before, g.GetId()); err == nil && old.GetRevoked() || revokedInBlock[g.GetId()] {
		t.Fatalf("access to %s used revoked grant %s", rec.GetId(), g.GetId())
	}
	if g.GetGrantorId() != rec.GetSubjectId() || g.GetGranteeDepartmentId() != accessor.GetDepartmentId() ||
		g.GetValidUntil() < hdr.GetTimeUnixMs()/1000 || (g.GetRecordId() != rec.GetId() && g.GetRecordType() != rec.GetRecordType()) {
		t.Fatalf("access to %s used grant %v that does not cover it", rec.GetId(), g)
	}
	iv.granted++
}

func allKeys(st *exectest.Store, prefix string) []string {
	var out []string
	for _, k := range st.Keys() {
		if bytes.HasPrefix([]byte(k), []byte(prefix)) {
			out = append(out, k)
		}
	}
	return out
}

func cloneStore(st *exectest.Store) *exectest.Store {
	out := exectest.NewStore()
	var ch []exec.Change
	for _, k := range st.Keys() {
		v, _ := st.Get([]byte(k))
		ch = append(ch, exec.Change{Key: []byte(k), Value: v})
	}
	out.Apply(ch)
	return out
}

// TestRandomizedDeterminismAndInvariants runs seeded random tx sequences on
// two independent executors and stores (ARCHITECTURE.md §5 "Execution is
// deterministic") and checks the state machine's invariants after every
// block.
func TestRandomizedDeterminismAndInvariants(t *testing.T) {
	seeds := []uint64{1, 2, 3, 42, 2026}
	blocks := 150
	if testing.Short() {
		seeds, blocks = seeds[:2], 100
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			f := exectest.NewFixture(3)
			f.AddValidatorIdentities()
			a, err := f.NewChain(exec.DefaultConfig(exectest.ChainID))
			if err != nil {
				t.Fatal(err)
			}
			fb := exectest.NewFixture(3)
			fb.AddValidatorIdentities()
			b, err := fb.NewChain(exec.DefaultConfig(exectest.ChainID))
			if err != nil {
				t.Fatal(err)
			}
			g := newGen(seed, f, a.Store)
			tg, ti := newTenderGen(seed, g), newTenderInvariants()
			iv := &invariants{versions: map[string][]byte{}, finals: map[string]*pb.Contract{}, erased: map[string]uint64{}, commits: map[string]string{}, depts: len(f.Depts)}
			var ok, refused int
			for range blocks {
				step := int64(1000 + g.rng.IntN(5000))
				if g.rng.IntN(10) == 0 {
					step += int64(g.rng.IntN(2*day)) * 1000
				}
				t0 := a.TimeMs + step
				g.pending = map[string]uint64{}
				txs := make([][]byte, g.rng.IntN(25))
				for i := range txs {
					txs[i] = g.tx(t0 / 1000)
				}
				txs = append(txs, tg.txs(t0/1000)...)
				before := cloneStore(a.Store)
				hdr := a.Header(t0)
				ra, err := a.ApplyAt(t0, txs...)
				if err != nil {
					t.Fatal(err)
				}
				rb, err := b.ApplyAt(t0, txs...)
				if err != nil {
					t.Fatal(err)
				}
				sameResult(t, ra, rb)
				iv.check(t, a.Store, before, hdr, txs, ra)
				ti.check(t, a.Store, before, hdr, txs, ra)
				for _, r := range ra.Results {
					if r.GetCode() == codeOK {
						ok++
					} else {
						refused++
					}
				}
			}
			if !a.Store.Equal(b.Store) {
				t.Fatal("stores differ")
			}
			if ok < blocks || refused < blocks/2 {
				t.Fatalf("weak mix: %d ok, %d refused", ok, refused)
			}
			t.Logf("%d blocks: %d ok, %d refused, %d keys, %d final contracts, %d granted accesses, %d txs by revoked signers, %d erasures, %d released, %d commitments, %d refused as another record's",
				blocks, ok, refused, a.Store.Len(), len(iv.finals), iv.granted, iv.revokedTried, len(iv.erased), iv.released, len(iv.commits), iv.stolen)
			ti.done(t)
			if len(iv.finals) == 0 || iv.granted == 0 || iv.revokedTried == 0 || len(iv.erased) == 0 || iv.released == 0 || iv.stolen == 0 {
				t.Fatal("the mix did not exercise every invariant")
			}
		})
	}
}

func sameResult(t *testing.T, a, b *exec.BlockResult) {
	t.Helper()
	if len(a.Results) != len(b.Results) || len(a.Events) != len(b.Events) || len(a.Changes) != len(b.Changes) {
		t.Fatal("block results differ in size")
	}
	for i := range a.Results {
		if !proto.Equal(a.Results[i], b.Results[i]) {
			t.Fatalf("result %d differs: %v vs %v", i, a.Results[i], b.Results[i])
		}
	}
	for i := range a.Events {
		if !proto.Equal(a.Events[i], b.Events[i]) {
			t.Fatalf("event %d differs", i)
		}
	}
	for i := range a.Changes {
		if !bytes.Equal(a.Changes[i].Key, b.Changes[i].Key) || !bytes.Equal(a.Changes[i].Value, b.Changes[i].Value) || a.Changes[i].Delete != b.Changes[i].Delete {
			t.Fatalf("change %d differs: %q", i, a.Changes[i].Key)
		}
	}
	if !proto.Equal(a.ValidatorUpdate, b.ValidatorUpdate) || !proto.Equal(a.Params, b.Params) {
		t.Fatal("validator update or params differ")
	}
}
