package main

// The benchmark planner: every transaction of a run is built and signed
// before the clock starts, so signing never slows the offered load. It is a
// pure function of its inputs (signers, their next nonces, the protected
// record types, a seeded random source, the wall time used for validity
// windows), but for the salts of protected payloads, which are random as
// every payload's must be: tests check its output without a network.
//
// A record of a protected type (the test network's birth_certificate) is
// created and amended as `govnode tx record` does it
// (tx_record_protected.go): the tx carries the payload commitment as
// content_hash and no content, and the payload goes beside it in
// SubmitTxRequest.payloads (benchTx.payloads).

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/govnode/govnode/client"
	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/genesis"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// The kinds of transaction in a benchmark mix. Every kind either depends
// on nothing or only on earlier transactions of the same signer (a signer's
// transactions are applied in nonce order) or on the setup phase, so an
// open-loop load never depends on another signer's transaction having
// committed. TransferRecord is left out for that reason: it needs the
// holder's consent (another signer) to be committed first.
const (
	benchCreate   = "create_record"    // official: a new record about a citizen
	benchAmend    = "amend_record"     // official: a new version of a record it created
	benchAccess   = "access_record"    // official: logged access to a record of its department
	benchGrant    = "grant_access"     // citizen: a grant by record type to a department
	benchConsent  = "consent_transfer" // citizen: consent to transfer its land title
	benchRegister = "register_subject" // official (registrar): a new citizen identity
	benchIssue    = "issue_credential" // official (issuer): a credential for a citizen
	benchContract = "create_contract"  // official: a procurement contract with a citizen as supplier
	benchSign     = "sign_contract"    // official: signs a contract it created
)

// benchKinds are the kinds --mix accepts.
var benchKinds = []string{benchAccess, benchAmend, benchConsent, benchContract, benchCreate, benchGrant, benchIssue, benchRegister, benchSign}

// benchMixGroups are shorthands of --mix: a group's weight is shared among
// its kinds in the given proportions.
var benchMixGroups = map[string][]benchMixEntry{
	"record":   {{benchCreate, 25}, {benchAmend, 15}, {benchAccess, 15}, {benchGrant, 25}},
	"identity": {{benchRegister, 1}, {benchIssue, 1}},
	"transfer": {{benchConsent, 1}},
	"contract": {{benchContract, 1}, {benchSign, 1}},
}

// benchMixEntry is one kind of a mix with its weight.
type benchMixEntry struct {
	kind   string
	weight float64
}

// defaultBenchMix: officials' record work and citizens' consents, about
// 55/45.
var defaultBenchMix = []benchMixEntry{
	{benchCreate, 25}, {benchAmend, 15}, {benchAccess, 15}, {benchGrant, 25}, {benchConsent, 20},
}

// parseBenchMix reads "create_record=25,amend_record=15,..." or groups,
// "record=70,identity=10,transfer=10,contract=10"; a kind named twice
// (directly or through groups) adds up. Weights are non-negative numbers,
// not necessarily summing to 100.
func parseBenchMix(s string) ([]benchMixEntry, error) {
	if strings.TrimSpace(s) == "" {
		return defaultBenchMix, nil
	}
	groups := slices.Sorted(maps.Keys(benchMixGroups))
	var out []benchMixEntry
	at := map[string]int{}
	add := func(kind string, w float64) {
		if i, ok := at[kind]; ok {
			out[i].weight += w
			return
		}
		at[kind] = len(out)
		out = append(out, benchMixEntry{kind, w})
	}
	total := 0.0
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		k, v, ok := strings.Cut(part, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" {
			return nil, fmt.Errorf("--mix %q: want kind=weight", part)
		}
		w, err := strconv.ParseFloat(v, 64)
		if err != nil || w < 0 || math.IsInf(w, 0) || math.IsNaN(w) {
			return nil, fmt.Errorf("--mix %q: weight %q is not a non-negative number", part, v)
		}
		switch g, isGroup := benchMixGroups[k]; {
		case isGroup:
			sum := 0.0
			for _, e := range g {
				sum += e.weight
			}
			for _, e := range g {
				add(e.kind, w*e.weight/sum)
			}
		case slices.Contains(benchKinds, k):
			add(k, w)
		default:
			return nil, fmt.Errorf("--mix %q: unknown kind %q; kinds: %s; groups: %s", part, k, strings.Join(benchKinds, ", "), strings.Join(groups, ", "))
		}
		total += w
	}
	if total == 0 {
		return nil, errors.New("--mix: all weights are zero")
	}
	return out, nil
}

// benchSigner is an identity the benchmark signs for.
type benchSigner struct {
	id       string
	key      crypto.PrivateKey
	official bool
	dept     string
	// node is the index of the node every transaction of the signer goes
	// to, so the node sees its nonces in order.
	node int
	// conn is the index of the load connection (to node) it uses.
	conn int
	// next is the next nonce to use.
	next uint64

	// records are the records an official created (with their versions as
	// planned); title is a citizen's land title, created in the setup.
	records []*benchRecord
	title   string
	// drafts are contracts an official created and has not yet signed.
	drafts []string
}

type benchRecord struct {
	id      string
	version uint64
	// protected: its type keeps content beside the chain.
	protected bool
}

// benchTx is one planned, signed transaction.
type benchTx struct {
	signer *benchSigner
	node   int
	nonce  uint64
	kind   string
	raw    []byte
	hash   string // string(crypto.Hash(raw)), a map key
	// payloads go beside the tx in SubmitTxRequest.payloads.
	payloads []*pb.Payload
}

// benchPlanner builds the transactions of a run.
type benchPlanner struct {
	chainID   string
	suite     crypto.Suite
	runID     string
	depts     []string
	officials []*benchSigner
	citizens  []*benchSigner
	rng       *rand.Rand
	now       time.Time
	seq       int
	// protected are the record types whose content goes beside the chain.
	protected map[string]bool
}

func newBenchPlanner(chainID string, suite crypto.Suite, runID string, signers []*benchSigner, depts []string, protected map[string]bool, rng *rand.Rand, now time.Time) (*benchPlanner, error) {
	p := &benchPlanner{chainID: chainID, suite: suite, runID: runID, depts: depts, protected: protected, rng: rng, now: now}
	for _, s := range signers {
		if s.next == 0 {
			return nil, fmt.Errorf("signer %s: next nonce 0", s.id)
		}
		if s.official {
			p.officials = append(p.officials, s)
		} else {
			p.citizens = append(p.citizens, s)
		}
	}
	if len(p.officials) == 0 {
		return nil, errors.New("bench: no department officials to create records")
	}
	if len(depts) == 0 {
		return nil, errors.New("bench: no departments")
	}
	return p, nil
}

func (p *benchPlanner) nextID(kind string) string {
	p.seq++
	return fmt.Sprintf("bench-%s-%s-%d", p.runID, kind, p.seq)
}

// sign numbers body with the signer's next nonce and signs it.
func (p *benchPlanner) sign(s *benchSigner, kind string, set func(*pb.TxBody)) (*benchTx, error) {
	body := &pb.TxBody{ChainId: p.chainID, Signer: s.id, Nonce: s.next}
	set(body)
	stx, err := client.Sign(s.key, body)
	if err != nil {
		return nil, err
	}
	s.next++
	return &benchTx{signer: s, node: s.node, nonce: body.GetNonce(), kind: kind, raw: stx.Raw, hash: string(stx.Hash)}, nil
}

// officialOf is the official of a department (any official if none).
func (p *benchPlanner) officialOf(dept string) *benchSigner {
	for _, o := range p.officials {
		if o.dept == dept {
			return o
		}
	}
	return p.officials[0]
}

func (p *benchPlanner) content(kind string) []byte {
	return fmt.Appendf(nil, `{"bench":%q,"kind":%q,"serial":%d,"parcel":"%06d"}`, p.runID, kind, p.seq, p.rng.IntN(1000000))
}

// amendable says whether the plan may amend r. A protected record is not
// amended: the node takes a protected amendment's payload only once the
// record's creation is committed (it reads the type from committed
// state), which an open-loop plan cannot promise; and the records a plan
// knows are all created in its own step (forget).
func amendable(r *benchRecord) bool { return !r.protected }

// recordContent is what a create or amend of a record carries: content on
// chain for a public type; for a protected one no content, the commitment
// of a fresh payload as content hash, and that payload.
func recordContent(suite crypto.Suite, protected bool, content []byte) (onChain, hash []byte, payloads []*pb.Payload, err error) {
	if !protected {
		return content, nil, nil, nil
	}
	pl, err := client.NewPayload(content)
	if err != nil {
		return nil, nil, nil, err
	}
	return nil, suite.PayloadCommitment(pl.GetSalt(), pl.GetContent()), []*pb.Payload{pl}, nil
}

// setup plans one land title per citizen, held by the citizen and created
// by an official of its department: the records citizens consent to
// transfer during the run.
func (p *benchPlanner) setup() ([]*benchTx, error) {
	var out []*benchTx
	for _, c := range p.citizens {
		o := p.officialOf(c.dept)
		id := p.nextID("title")
		prot := p.protected[genesis.SampleLandTitle]
		content, hash, payloads, err := recordContent(p.suite, prot, p.content(genesis.SampleLandTitle))
		if err != nil {
			return nil, err
		}
		a := &pb.CreateRecord{RecordId: id, RecordType: genesis.SampleLandTitle, SubjectId: c.id, HolderId: c.id,
			Content: content, ContentHash: hash, ContentType: "application/json"}
		tx, err := p.sign(o, benchCreate, func(b *pb.TxBody) { b.Action = &pb.TxBody_CreateRecord{CreateRecord: a} })
		if err != nil {
			return nil, err
		}
		tx.payloads = payloads
		c.title = id
		o.records = append(o.records, &benchRecord{id: id, version: 1, protected: prot})
		out = append(out, tx)
	}
	return out, nil
}

// pickKind draws a kind by weight, falling back to create_record when the
// drawn kind has nobody to sign it.
func (p *benchPlanner) pickKind(mix []benchMixEntry) string {
	total := 0.0
	for _, m := range mix {
		total += m.weight
	}
	r := p.rng.Float64() * total
	for _, m := range mix {
		if r < m.weight {
			return m.kind
		}
		r -= m.weight
	}
	return benchCreate
}

// forget drops what the planner knows of records and contracts created by
// earlier plans. A new step starts from it: some transactions of the
// previous step may have been refused or not committed, so the versions
// and drafts planned there are not to be relied on.
func (p *benchPlanner) forget() {
	for _, o := range p.officials {
		o.records, o.drafts = nil, nil
	}
}

// plan builds n transactions of the mix, in the order they are to be sent.
func (p *benchPlanner) plan(n int, mix []benchMixEntry) ([]*benchTx, error) {
	out := make([]*benchTx, 0, n)
	types := []string{genesis.SampleLandTitle, genesis.SampleBirthCert, genesis.SampleBusinessLicense}
	until := p.now.Add(30 * 24 * time.Hour).Unix()
	var holders []*benchSigner
	for _, c := range p.citizens {
		if c.title != "" {
			holders = append(holders, c)
		}
	}
	for len(out) < n {
		kind := p.pickKind(mix)
		switch kind {
		case benchGrant:
			if len(p.citizens) == 0 {
				kind = benchCreate
			}
		case benchConsent:
			if len(holders) == 0 || len(p.citizens) < 2 {
				kind = benchCreate
			}
		case benchAmend:
			if !slices.ContainsFunc(p.officials, func(o *benchSigner) bool { return slices.ContainsFunc(o.records, amendable) }) {
				kind = benchCreate
			}
		case benchAccess:
			if !slices.ContainsFunc(p.officials, func(o *benchSigner) bool { return len(o.records) > 0 }) {
				kind = benchCreate
			}
		case benchIssue, benchContract:
			if len(p.citizens) == 0 {
				kind = benchCreate
			}
		case benchSign:
			if !slices.ContainsFunc(p.officials, func(o *benchSigner) bool { return len(o.drafts) > 0 }) {
				kind = benchContract
				if len(p.citizens) == 0 {
					kind = benchCreate
				}
			}
		}
		var (
			tx  *benchTx
			err error
		)
		switch kind {
		case benchCreate:
			o := p.officials[p.rng.IntN(len(p.officials))]
			subject := o.id
			if len(p.citizens) > 0 {
				subject = p.citizens[p.rng.IntN(len(p.citizens))].id
			}
			typ := types[p.rng.IntN(len(types))]
			id := p.nextID("rec")
			prot := p.protected[typ]
			content, hash, payloads, cerr := recordContent(p.suite, prot, p.content(typ))
			if cerr != nil {
				return nil, cerr
			}
			a := &pb.CreateRecord{RecordId: id, RecordType: typ, SubjectId: subject, Content: content, ContentHash: hash, ContentType: "application/json",
				Metadata: []*pb.Attribute{{Name: "source", Value: "govnode bench"}}}
			if tx, err = p.sign(o, kind, func(b *pb.TxBody) { b.Action = &pb.TxBody_CreateRecord{CreateRecord: a} }); err == nil {
				tx.payloads = payloads
				o.records = append(o.records, &benchRecord{id: id, version: 1, protected: prot})
			}
		case benchAmend, benchAccess:
			ok := func(r *benchRecord) bool { return kind == benchAccess || amendable(r) }
			var withRecords []*benchSigner
			for _, o := range p.officials {
				if slices.ContainsFunc(o.records, ok) {
					withRecords = append(withRecords, o)
				}
			}
			o := withRecords[p.rng.IntN(len(withRecords))]
			var rs []*benchRecord
			for _, r := range o.records {
				if ok(r) {
					rs = append(rs, r)
				}
			}
			r := rs[p.rng.IntN(len(rs))]
			if kind == benchAmend {
				content, hash, payloads, cerr := recordContent(p.suite, r.protected, p.content("amend"))
				if cerr != nil {
					return nil, cerr
				}
				a := &pb.AmendRecord{RecordId: r.id, ExpectedVersion: r.version, Content: content, ContentHash: hash, Reason: "benchmark amendment"}
				if tx, err = p.sign(o, kind, func(b *pb.TxBody) { b.Action = &pb.TxBody_AmendRecord{AmendRecord: a} }); err == nil {
					tx.payloads = payloads
					r.version++
				}
			} else {
				a := &pb.AccessRecord{RecordId: r.id, Purpose: "benchmark case review", LegalBasis: "govnode bench"}
				tx, err = p.sign(o, kind, func(b *pb.TxBody) { b.Action = &pb.TxBody_AccessRecord{AccessRecord: a} })
			}
		case benchGrant:
			c := p.citizens[p.rng.IntN(len(p.citizens))]
			a := &pb.GrantAccess{GrantId: p.nextID("grant"), GranteeDepartmentId: p.depts[p.rng.IntN(len(p.depts))],
				RecordType: genesis.SampleBirthCert, Purpose: "benefit application", ValidUntil: until}
			tx, err = p.sign(c, kind, func(b *pb.TxBody) { b.Action = &pb.TxBody_GrantAccess{GrantAccess: a} })
		case benchConsent:
			c := holders[p.rng.IntN(len(holders))]
			to := c
			for to == c {
				to = p.citizens[p.rng.IntN(len(p.citizens))]
			}
			a := &pb.ConsentTransfer{RecordId: c.title, NewHolderId: to.id, ValidUntil: until}
			tx, err = p.sign(c, kind, func(b *pb.TxBody) { b.Action = &pb.TxBody_ConsentTransfer{ConsentTransfer: a} })
		case benchRegister:
			// The new citizen shares a key with an existing signer: the
			// state machine does not require keys to be unique, and
			// generating one per transaction would only slow planning.
			o := p.officials[p.rng.IntN(len(p.officials))]
			a := &pb.RegisterSubject{IdentityId: p.nextID("citizen"), Kind: pb.IdentityKind_IDENTITY_KIND_CITIZEN,
				DisplayName: "Bench Citizen", PublicKey: o.key.Public(), Attributes: []*pb.Attribute{{Name: "source", Value: "govnode bench"}}}
			tx, err = p.sign(o, kind, func(b *pb.TxBody) { b.Action = &pb.TxBody_RegisterSubject{RegisterSubject: a} })
		case benchIssue:
			o := p.officials[p.rng.IntN(len(p.officials))]
			c := p.citizens[p.rng.IntN(len(p.citizens))]
			a := &pb.IssueCredential{CredentialId: p.nextID("cred"), SubjectId: c.id, CredentialType: "residence_permit",
				Claims: []*pb.Attribute{{Name: "municipality", Value: fmt.Sprintf("m%03d", p.rng.IntN(1000))}}, ExpiresAt: until}
			tx, err = p.sign(o, kind, func(b *pb.TxBody) { b.Action = &pb.TxBody_IssueCredential{IssueCredential: a} })
		case benchContract:
			o := p.officials[p.rng.IntN(len(p.officials))]
			c := p.citizens[p.rng.IntN(len(p.citizens))]
			id := p.nextID("contract")
			a := &pb.CreateContract{ContractId: id, TemplateId: genesis.SampleProcurement, Title: "Bench procurement",
				Parties: []*pb.ContractParty{{Role: "buyer", IdentityId: o.id}, {Role: "supplier", IdentityId: c.id}},
				Fields: []*pb.ContractField{
					{Name: "amount", Value: &pb.ContractField_IntValue{IntValue: int64(1000 + p.rng.IntN(100000))}},
					{Name: "item", Value: &pb.ContractField_StringValue{StringValue: "office supplies"}},
				}}
			if tx, err = p.sign(o, kind, func(b *pb.TxBody) { b.Action = &pb.TxBody_CreateContract{CreateContract: a} }); err == nil {
				o.drafts = append(o.drafts, id)
			}
		case benchSign:
			var withDrafts []*benchSigner
			for _, o := range p.officials {
				if len(o.drafts) > 0 {
					withDrafts = append(withDrafts, o)
				}
			}
			o := withDrafts[p.rng.IntN(len(withDrafts))]
			id := o.drafts[0]
			a := &pb.SignContract{ContractId: id}
			if tx, err = p.sign(o, kind, func(b *pb.TxBody) { b.Action = &pb.TxBody_SignContract{SignContract: a} }); err == nil {
				o.drafts = o.drafts[1:]
			}
		}
		if err != nil {
			return nil, err
		}
		out = append(out, tx)
	}
	return out, nil
}

// assignNodes gives every signer one node: officials the node of their
// department, citizens spread round-robin in id order.
func assignNodes(signers []*benchSigner, nodeOfDept map[string]int, nodes int) {
	var citizens []*benchSigner
	for _, s := range signers {
		if i, ok := nodeOfDept[s.dept]; ok && s.official {
			s.node = i
			continue
		}
		citizens = append(citizens, s)
	}
	sort.Slice(citizens, func(i, j int) bool { return citizens[i].id < citizens[j].id })
	for i, s := range citizens {
		s.node = i % nodes
	}
}

// assignConns gives every signer one of its node's connections,
// round-robin in signer order within each node. connsOf[i] lists the
// connections to node i; every node has at least one.
func assignConns(signers []*benchSigner, connsOf [][]int) {
	used := make([]int, len(connsOf))
	for _, s := range signers {
		cs := connsOf[s.node]
		s.conn = cs[used[s.node]%len(cs)]
		used[s.node]++
	}
}

// spreadConns assigns n connections to nodes round-robin: connection k
// goes to node k mod nodes. It returns each node's connections.
func spreadConns(n, nodes int) [][]int {
	out := make([][]int, nodes)
	for k := range n {
		out[k%nodes] = append(out[k%nodes], k)
	}
	return out
}
