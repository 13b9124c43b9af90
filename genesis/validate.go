package genesis

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/ledger/exec"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Problem is one finding of Validate: the field path and what is wrong.
type Problem struct {
	// Field is the path of the field, e.g. "validators[2].peer_id".
	Field string
	// Reason says what is wrong with it.
	Reason string
}

func (p Problem) String() string { return p.Field + ": " + p.Reason }

// ValidationError lists every problem Validate found.
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "invalid genesis: %d problem(s):", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

type checker struct {
	errs  []Problem
	warns []Problem
	// suiteOK: suite is the document's crypto suite (it names a known
	// one), so keys are checked against its scheme and peer bindings
	// against its rule; chainID is the document's chain id, which every
	// peer binding signs.
	suiteOK bool
	suite   crypto.Suite
	chainID string
}

func (c *checker) errf(field, format string, args ...any) {
	c.errs = append(c.errs, Problem{Field: field, Reason: fmt.Sprintf(format, args...)})
}

func (c *checker) warnf(field, format string, args ...any) {
	c.warns = append(c.warns, Problem{Field: field, Reason: fmt.Sprintf(format, args...)})
}

func (c *checker) result() ([]Problem, error) {
	if len(c.errs) > 0 {
		return c.warns, &ValidationError{Problems: c.errs}
	}
	return c.warns, nil
}

// checkID reports an id that breaks the one id rule, exec.ValidID (the
// state machine's, so a genesis this package accepts is one the ledger
// accepts, and its ids are the ones transactions and the API use).
func (c *checker) checkID(field, id string) bool {
	if err := exec.ValidID(id); err != nil {
		c.errf(field, "%q: %v", id, err)
		return false
	}
	return true
}

// checkName reports a display name or title that breaks exec.ValidName.
func (c *checker) checkName(field, name string) {
	if err := exec.ValidName(name); err != nil {
		c.errf(field, "%q: %v", name, err)
	}
}

// Validate checks doc and returns every problem found as a
// *ValidationError, and apart from it the warnings: legal but unwise
// choices that an operator should see. Warnings are returned even when
// err is not nil.
func Validate(doc *pb.GenesisDoc) (warnings []Problem, err error) {
	c := &checker{}
	if doc == nil {
		c.errf("genesis", "missing document")
		return c.result()
	}
	if err := exec.ValidChainID(doc.GetChainId()); err != nil {
		c.errf("chain_id", "%q: %v", doc.GetChainId(), err)
	}
	if doc.GetGenesisTime() == "" {
		c.errf("genesis_time", "empty (want an RFC 3339 time)")
	} else if _, err := time.Parse(time.RFC3339Nano, doc.GetGenesisTime()); err != nil {
		c.errf("genesis_time", "%q is not an RFC 3339 time", doc.GetGenesisTime())
	}
	faultOK := true
	if _, err := ParseFaultModel(doc.GetFaultModel()); err != nil {
		c.errf("fault_model", "%v", err)
		faultOK = false
	}
	c.checkParams(doc.GetParams())
	if suite, err := Suite(doc); err != nil {
		c.errf("crypto_suite", "%v", err)
	} else {
		c.suiteOK, c.suite, c.chainID = true, suite, doc.GetChainId()
	}

	depts := c.checkValidators(doc)
	if n := len(doc.GetValidators()); faultOK && n > 0 && MaxFaults(doc.GetFaultModel(), n) == 0 {
		if doc.GetFaultModel() == FaultByzantine {
			c.warnf("validators", "a byzantine network of %d validator(s) tolerates no faulty validator (quorum %d of %d); use at least 4", n, Quorum(doc.GetFaultModel(), n), n)
		} else {
			c.warnf("validators", "a crash network of %d validator(s) tolerates no crashed validator (quorum %d of %d); use at least 3", n, Quorum(doc.GetFaultModel(), n), n)
		}
	}
	types := c.checkRecordTypes(doc, depts)
	c.checkIdentities(doc, depts, types)
	c.checkTemplates(doc)
	c.checkBudgets(doc, depts)
	return c.result()
}

// checkParams reports every parameter out of its bounds; the bounds and
// their check have one home, exec.ValidateGenesisParams (ValidateParams,
// which governance applies to a params change, with the genesis floor of
// validator_change_delay). A delay below exec.MinValidatorChangeDelay is
// a warning: a chain started with one keeps running.
func (c *checker) checkParams(p *pb.Params) {
	if d := p.GetValidatorChangeDelay(); d >= exec.GenesisMinValidatorChangeDelay && d < exec.MinValidatorChangeDelay {
		c.warnf("params.validator_change_delay", "%d is below %d: a validator set decided less than %d blocks before it takes effect cannot be proven to a light client; a params change needs at least %d (use it for a new chain too)",
			d, exec.MinValidatorChangeDelay, exec.MinValidatorChangeDelay, exec.MinValidatorChangeDelay)
	}
	err := exec.ValidateGenesisParams(p)
	var pe *exec.ParamsError
	if !errors.As(err, &pe) {
		if err != nil {
			c.errf("params", "%v", err)
		}
		return
	}
	for _, pr := range pe.Problems {
		field := "params"
		if pr.Field != "" {
			field += "." + pr.Field
		}
		c.errf(field, "%s", pr.Reason)
	}
}

// CheckDepartment checks one validator entry on its own (not against the
// others) and returns its problems, with field paths under prefix. It knows
// no chain, so it checks neither the key's scheme nor the peer binding
// (CheckPeerBinding does, given the chain's suite and id).
func CheckDepartment(prefix string, d *pb.Department) []Problem {
	c := &checker{}
	c.checkDepartment(prefix, d)
	return c.errs
}

// BindPeer returns the peer binding (Department.peer_binding) of an
// "sm2-sm3" chain's department departmentID: key, the department's SM2
// consensus key, signs crypto.PeerBindingSignBytes(chainID, departmentID,
// peerID) (ARCHITECTURE.md §7 "Faults and hostile input").
func BindPeer(key crypto.PrivateKey, chainID, departmentID, peerID string) ([]byte, error) {
	return crypto.BindPeer(key, chainID, departmentID, peerID)
}

// CheckPeerBinding checks d's peer binding on a chain of suite and id
// chainID: on "sm2-sm3" it must be d's consensus key's signature of d's
// peer id, on "ed25519-sha256" it must be empty. The rule has one home,
// crypto.CheckPeerBinding, which the state machine and peer admission
// apply too.
func CheckPeerBinding(suite crypto.Suite, chainID string, d *pb.Department) error {
	return crypto.CheckPeerBinding(suite, chainID, d.GetId(), d.GetPeerId(), d.GetConsensusKey(), d.GetPeerBinding())
}

// checkKey reports a key that is not a valid key of the document's suite
// (Suite.CheckKey), or only not a valid key when the suite is unknown.
// It reports whether the key is fine.
func (c *checker) checkKey(field string, pub *pb.PublicKey) bool {
	err := crypto.ValidatePublicKey(pub)
	if err != nil {
		err = fmt.Errorf("%s: %w", field, err)
	}
	// A key of a scheme this binary does not know is a bad key, whatever
	// the suite; one of another known scheme is the suite's refusal.
	if c.suiteOK && !errors.Is(err, crypto.ErrUnknownScheme) {
		err = c.suite.CheckKey(field, pub)
	}
	if err == nil {
		return true
	}
	reason := strings.TrimPrefix(err.Error(), field+": ")
	if !errors.Is(err, crypto.ErrWrongScheme) {
		reason = "bad key encoding: " + reason
	}
	c.errf(field, "%s", reason)
	return false
}

func (c *checker) checkDepartment(f string, d *pb.Department) (peerOK bool) {
	c.checkID(f+".id", d.GetId())
	c.checkName(f+".name", d.GetName())
	keyOK := c.checkKey(f+".consensus_key", d.GetConsensusKey())
	var id peer.ID
	if d.GetPeerId() == "" {
		c.errf(f+".peer_id", "empty")
	} else if pid, err := exec.ValidatePeerID(d.GetPeerId()); err != nil {
		c.errf(f+".peer_id", "%v", err)
	} else {
		id, peerOK = pid, true
	}
	// On an sm2-sm3 chain the binding signs the peer id's text, and peer
	// admission checks it over the canonical text of the id it decodes to
	// (p2p.MembersOf): a peer id in another form libp2p decodes (a CIDv1)
	// would validate here with a binding no node ever admits. The state
	// machine requires the canonical form of every peer id governance
	// adds (ARCHITECTURE.md §7 "Faults and hostile input").
	canonical := true
	if peerOK && c.suiteOK && c.suite == crypto.SM2SM3 && id.String() != d.GetPeerId() {
		canonical = false
		c.errf(f+".peer_id", "%q is not in its canonical form %s, which the peer binding of an %s chain must sign", d.GetPeerId(), id.String(), c.suite)
	}
	// The binding is checked once the key and peer id are known good, so
	// its problem is the binding's own; on an ed25519-sha256 chain a
	// non-empty one is refused whatever the rest.
	if c.suiteOK && (c.suite != crypto.SM2SM3 || keyOK && peerOK && canonical) {
		if err := CheckPeerBinding(c.suite, c.chainID, d); err != nil {
			c.errf(f+".peer_binding", "validator %q: %v", d.GetId(), err)
		}
	}
	if len(d.GetAddrs()) == 0 {
		c.warnf(f+".addrs", "no address: other validators can only reach this one if it dials them")
	}
	for j, a := range d.GetAddrs() {
		af := fmt.Sprintf("%s.addrs[%d]", f, j)
		m, err := ma.NewMultiaddr(a)
		if err != nil {
			c.errf(af, "%q is not a multiaddr: %v", a, err)
			continue
		}
		if manet.IsIPUnspecified(m) {
			c.warnf(af, "%q is an unspecified address (0.0.0.0 or ::): other validators cannot dial it", a)
		}
		// An address may end in /p2p/<id>; that id must be the validator's.
		if v, err := m.ValueForProtocol(ma.P_P2P); err == nil && peerOK {
			if pid, err := peer.Decode(v); err != nil || pid != id {
				c.errf(af, "/p2p/%s does not match peer_id %s", v, d.GetPeerId())
			}
		}
	}
	return peerOK
}

// checkValidators checks the validator list and returns the set of
// department ids.
func (c *checker) checkValidators(doc *pb.GenesisDoc) map[string]bool {
	depts := map[string]bool{}
	vals := doc.GetValidators()
	if len(vals) == 0 {
		c.errf("validators", "no validator: at least 1 is needed")
	}
	keys := map[string]int{}
	peers := map[string]int{}
	for i, d := range vals {
		f := fmt.Sprintf("validators[%d]", i)
		if d == nil {
			c.errf(f, "null")
			continue
		}
		peerOK := c.checkDepartment(f, d)
		if id := d.GetId(); id != "" {
			if depts[id] {
				c.errf(f+".id", "duplicate department id %q", id)
			}
			depts[id] = true
		}
		if k := d.GetConsensusKey(); crypto.ValidatePublicKey(k) == nil {
			ks := keyString(k)
			if j, dup := keys[ks]; dup {
				c.errf(f+".consensus_key", "duplicate validator key (also validators[%d])", j)
			} else {
				keys[ks] = i
			}
		}
		if peerOK {
			pid, _ := peer.Decode(d.GetPeerId())
			if j, dup := peers[string(pid)]; dup {
				c.errf(f+".peer_id", "duplicate peer id %s (also validators[%d])", d.GetPeerId(), j)
			} else {
				peers[string(pid)] = i
			}
		}
	}
	return depts
}

func keyString(k *pb.PublicKey) string {
	return fmt.Sprintf("%d/%x", k.GetScheme(), k.GetKey())
}

func (c *checker) checkRecordTypes(doc *pb.GenesisDoc, depts map[string]bool) map[string]bool {
	types := map[string]bool{}
	for i, rt := range doc.GetRecordTypes() {
		f := fmt.Sprintf("record_types[%d]", i)
		if rt == nil {
			c.errf(f, "null")
			continue
		}
		if rt.GetName() != "" {
			c.checkName(f+".name", rt.GetName())
		}
		if c.checkID(f+".id", rt.GetId()) {
			if types[rt.GetId()] {
				c.errf(f+".id", "duplicate record type id %q", rt.GetId())
			}
			types[rt.GetId()] = true
		}
		lists := []struct {
			name string
			ids  []string
		}{
			{"create_departments", rt.GetCreateDepartments()},
			{"amend_departments", rt.GetAmendDepartments()},
			{"transfer_departments", rt.GetTransferDepartments()},
			{"revoke_departments", rt.GetRevokeDepartments()},
		}
		for _, l := range lists {
			seen := map[string]bool{}
			for j, d := range l.ids {
				lf := fmt.Sprintf("%s.%s[%d]", f, l.name, j)
				if !depts[d] {
					c.errf(lf, "unknown department %q", d)
				}
				if seen[d] {
					c.errf(lf, "duplicate department %q", d)
				}
				seen[d] = true
			}
		}
		if len(rt.GetCreateDepartments()) == 0 {
			c.warnf(f+".create_departments", "no department may create records of type %q", rt.GetId())
		}
		if !rt.GetTransferable() {
			if rt.GetTransferNeedsConsent() {
				c.errf(f+".transfer_needs_consent", "set on a type that is not transferable")
			}
			if len(rt.GetTransferDepartments()) > 0 {
				c.errf(f+".transfer_departments", "set on a type that is not transferable")
			}
		}
		if max := doc.GetParams().GetMaxTxBytes(); rt.GetOnChainContent() && max > 0 && uint64(rt.GetMaxContentBytes()) > max {
			c.errf(f+".max_content_bytes", "%d is above params.max_tx_bytes %d: such content fits in no transaction", rt.GetMaxContentBytes(), max)
		}
		if rt.GetOnChainContent() && rt.GetMaxContentBytes() == 0 {
			c.errf(f+".max_content_bytes", "must be > 0 when on_chain_content is set")
		}
		c.checkVisibility(f, rt)
	}
	return types
}

// checkVisibility reports a record type's visibility that the state
// machine refuses (exec's rule, ARCHITECTURE.md §5, "Who can read what"):
// an unknown value; a protected type with on-chain content, or without a
// bound on its content.
func (c *checker) checkVisibility(f string, rt *pb.RecordType) {
	switch rt.GetVisibility() {
	case pb.ContentVisibility_CONTENT_VISIBILITY_UNSPECIFIED, pb.ContentVisibility_CONTENT_VISIBILITY_PUBLIC:
	case pb.ContentVisibility_CONTENT_VISIBILITY_PROTECTED:
		if rt.GetOnChainContent() {
			c.errf(f+".on_chain_content", "set on a protected type: its content is kept beside the chain, never in it")
		}
		if rt.GetMaxContentBytes() == 0 || rt.GetMaxContentBytes() > exec.HardMaxTxBytes {
			c.errf(f+".max_content_bytes", "a protected type needs it in 1..%d: it bounds each version's content", exec.HardMaxTxBytes)
		}
	default:
		c.errf(f+".visibility", "%d is not a known visibility (CONTENT_VISIBILITY_PUBLIC or CONTENT_VISIBILITY_PROTECTED)", int32(rt.GetVisibility()))
	}
}

func (c *checker) checkIdentities(doc *pb.GenesisDoc, depts, types map[string]bool) {
	ids := map[string]int{}
	keys := map[string]int{}
	admins := map[string]bool{}
	for i, id := range doc.GetIdentities() {
		f := fmt.Sprintf("identities[%d]", i)
		if id == nil {
			c.errf(f, "null")
			continue
		}
		if c.checkID(f+".id", id.GetId()) {
			if j, dup := ids[id.GetId()]; dup {
				c.errf(f+".id", "duplicate identity id %q (also identities[%d])", id.GetId(), j)
			} else {
				ids[id.GetId()] = i
			}
		}
		c.checkName(f+".display_name", id.GetDisplayName())
		switch id.GetKind() {
		case pb.IdentityKind_IDENTITY_KIND_OFFICIAL, pb.IdentityKind_IDENTITY_KIND_CITIZEN, pb.IdentityKind_IDENTITY_KIND_COMPANY:
		default:
			c.errf(f+".kind", "must be IDENTITY_KIND_OFFICIAL, _CITIZEN or _COMPANY, not %v", id.GetKind())
		}
		if id.GetDepartmentId() == "" {
			c.errf(f+".department_id", "empty")
		} else if !depts[id.GetDepartmentId()] {
			c.errf(f+".department_id", "unknown department %q", id.GetDepartmentId())
		}
		if id.GetPublicKey() == nil {
			c.errf(f+".public_key", "missing key")
		} else if c.checkKey(f+".public_key", id.GetPublicKey()) {
			ks := keyString(id.GetPublicKey())
			if j, dup := keys[ks]; dup {
				c.errf(f+".public_key", "duplicate public key (also identities[%d])", j)
			} else {
				keys[ks] = i
			}
		}
		switch id.GetStatus() {
		case pb.IdentityStatus_IDENTITY_STATUS_UNSPECIFIED, pb.IdentityStatus_IDENTITY_STATUS_ACTIVE:
		default:
			c.errf(f+".status", "a genesis identity must be active, not %v", id.GetStatus())
		}
		seenRoles := map[pb.Role]bool{}
		for j, r := range id.GetRoles() {
			rf := fmt.Sprintf("%s.roles[%d]", f, j)
			if _, known := pb.Role_name[int32(r)]; !known || r == pb.Role_ROLE_UNSPECIFIED {
				c.errf(rf, "unknown role %v", r)
			}
			if seenRoles[r] {
				c.errf(rf, "duplicate role %v", r)
			}
			seenRoles[r] = true
			if id.GetKind() != pb.IdentityKind_IDENTITY_KIND_OFFICIAL {
				c.errf(rf, "only officials hold roles, this identity is %v", id.GetKind())
			}
		}
		if seenRoles[pb.Role_ROLE_ADMIN] && id.GetKind() == pb.IdentityKind_IDENTITY_KIND_OFFICIAL {
			admins[id.GetDepartmentId()] = true
		}
		for j, t := range id.GetIssuerRecordTypes() {
			if !types[t] {
				c.errf(fmt.Sprintf("%s.issuer_record_types[%d]", f, j), "unknown record type %q", t)
			}
		}
		if len(id.GetIssuerRecordTypes()) > 0 && !seenRoles[pb.Role_ROLE_ISSUER] {
			c.errf(f+".issuer_record_types", "set on an identity without ROLE_ISSUER")
		}
		if id.GetCreatedHeight() != 0 || id.GetUpdatedHeight() != 0 || len(id.GetKeyHistory()) > 0 {
			c.errf(f, "created_height, updated_height and key_history must be empty in genesis")
		}
		// Even a key_history that is refused anyway names every key of
		// another scheme: the document has no place for one.
		for j, kc := range id.GetKeyHistory() {
			if k := kc.GetPublicKey(); k != nil && c.suiteOK && k.GetScheme() != c.suite.Scheme() {
				c.checkKey(fmt.Sprintf("%s.key_history[%d].public_key", f, j), k)
			}
		}
	}
	for i, d := range doc.GetValidators() {
		if d.GetId() != "" && !admins[d.GetId()] {
			c.warnf(fmt.Sprintf("validators[%d]", i), "department %q has no admin identity (an official with ROLE_ADMIN): it cannot manage its officials or vote in governance", d.GetId())
		}
	}
}

// checkBudgets reports an opening budget the state machine refuses
// (ARCHITECTURE.md §5, "Budgets and payments"): a department that is not a
// genesis department, one listed twice, a balance not above 0, a funded
// total other than the balance, a height.
func (c *checker) checkBudgets(doc *pb.GenesisDoc, depts map[string]bool) {
	seen := map[string]int{}
	for i, b := range doc.GetBudgets() {
		f := fmt.Sprintf("budgets[%d]", i)
		if b == nil {
			c.errf(f, "null")
			continue
		}
		if d := b.GetDepartmentId(); d == "" {
			c.errf(f+".department_id", "empty")
		} else if !depts[d] {
			c.errf(f+".department_id", "unknown department %q", d)
		} else if j, dup := seen[d]; dup {
			c.errf(f+".department_id", "duplicate budget of department %q (also budgets[%d])", d, j)
		} else {
			seen[d] = i
		}
		if b.GetBalance() <= 0 {
			c.errf(f+".balance", "%d: an opening budget is > 0 (minor units)", b.GetBalance())
		}
		if fu := b.GetFunded(); fu != 0 && fu != b.GetBalance() {
			c.errf(f+".funded", "%d differs from the opening balance %d (leave it empty: genesis sets it)", fu, b.GetBalance())
		}
		if b.GetUpdatedHeight() != 0 {
			c.errf(f+".updated_height", "must be empty in genesis")
		}
	}
}

func (c *checker) checkTemplates(doc *pb.GenesisDoc) {
	seen := map[string]bool{}
	for i, t := range doc.GetContractTemplates() {
		f := fmt.Sprintf("contract_templates[%d]", i)
		if t == nil {
			c.errf(f, "null")
			continue
		}
		if t.GetName() != "" {
			c.checkName(f+".name", t.GetName())
		}
		if c.checkID(f+".id", t.GetId()) {
			if seen[t.GetId()] {
				c.errf(f+".id", "duplicate contract template id %q", t.GetId())
			}
			seen[t.GetId()] = true
		}
		c.checkTemplate(f, t)
	}
}

// checkTemplate reports the problems of a template's state machine. The
// rule has one home, exec.TemplateProblems, which governance installs use
// too; genesis reports every problem with its field path.
func (c *checker) checkTemplate(f string, t *pb.ContractTemplate) {
	for _, p := range exec.TemplateProblems(t) {
		c.errf(f+"."+p.Field, "%s", p.Reason)
	}
}
