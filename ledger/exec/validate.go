package exec

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Field limits, checked before any state is read. They keep every stored
// object small whatever max_tx_bytes allows.
const (
	MaxIDBytes        = 128
	MaxNameBytes      = 256
	MaxTextBytes      = 1024 // reasons, purposes, notes, descriptions
	MaxMemoBytes      = 256
	MaxListLen        = 64 // roles, record types, attributes, parties, fields, states
	MaxAttrNameBytes  = 64
	MaxAttrValueBytes = 1024
	MaxFieldBytes     = 4096 // one contract field's string or bytes value
	// MaxChainIDBytes bounds the chain id, which also names the gossip
	// topics (/govnode/<chain-id>/...); p2p holds it to 64 bytes.
	MaxChainIDBytes = 64
)

// ValidID is the one rule for every id: the chain's, and those of
// departments, identities, record types, records, credentials, grants,
// contracts, templates and their states, roles and fields, proposals.
// Genesis validation, the state machine and the API's queries all use it.
//
// An id is 1..MaxIDBytes of lowercase ASCII letters, digits, '.', '_' and
// '-', starting with a letter or a digit. Lowercase only, so that two ids
// differing only in case cannot both exist (one would be taken for the
// other by a reader); ASCII only, so an id holds no look-alike letters, no
// control characters (NUL, terminal escapes) and no bidirectional
// overrides; never '/' (the state key layout relies on it, keys.go); and
// never a leading '-' or '.', which would read as a command-line flag or a
// hidden file name.
func ValidID(id string) error {
	if id == "" {
		return errors.New("empty")
	}
	if len(id) > MaxIDBytes {
		return fmt.Errorf("%d bytes, limit %d", len(id), MaxIDBytes)
	}
	for i := 0; i < len(id); {
		r, size := utf8.DecodeRuneInString(id[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			return fmt.Errorf("byte %d is not valid UTF-8 (ids are lowercase a-z, 0-9, '.', '_', '-')", i)
		case r >= 'A' && r <= 'Z':
			return fmt.Errorf("uppercase %q at byte %d: ids are lowercase", r, i)
		case i == 0 && !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9'):
			return fmt.Errorf("starts with %q: an id starts with a lowercase letter or a digit", r)
		case !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'):
			return fmt.Errorf("character %q at byte %d not allowed (ids are lowercase a-z, 0-9, '.', '_', '-')", r, i)
		}
		i += size
	}
	return nil
}

// ValidChainID is ValidID with the chain id's shorter limit,
// MaxChainIDBytes.
func ValidChainID(id string) error {
	if err := ValidID(id); err != nil {
		return err
	}
	if len(id) > MaxChainIDBytes {
		return fmt.Errorf("%d bytes, a chain id's limit is %d", len(id), MaxChainIDBytes)
	}
	return nil
}

// ValidName checks a display name or a title (an identity's display name,
// the names of departments, record types and templates, the titles of
// proposals and contracts): 1..MaxNameBytes of valid UTF-8, not blank, with
// no control character (NUL, ESC and the terminal escapes it starts, line
// breaks), no bidirectional control (U+202E and its kin reorder how the
// text around them displays, so a name could pose as another), and no
// other invisible format character (zero-width spaces and the like, which
// make two names that look the same differ). ZWNJ and ZWJ (U+200C, U+200D)
// are allowed: several scripts and emoji need them.
func ValidName(s string) error {
	if strings.TrimSpace(s) == "" {
		return errors.New("empty")
	}
	if len(s) > MaxNameBytes {
		return fmt.Errorf("%d bytes, limit %d", len(s), MaxNameBytes)
	}
	for i, r := range s {
		switch {
		case r == utf8.RuneError:
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return fmt.Errorf("byte %d is not valid UTF-8", i)
			}
		case unicode.IsControl(r):
			return fmt.Errorf("control character %U at byte %d", r, i)
		case unicode.Is(unicode.Bidi_Control, r):
			return fmt.Errorf("bidirectional control %U at byte %d: it reorders how the text displays", r, i)
		case unicode.In(r, unicode.Zl, unicode.Zp):
			return fmt.Errorf("line or paragraph separator %U at byte %d", r, i)
		case unicode.Is(unicode.Cf, r) && r != '\u200c' && r != '\u200d':
			return fmt.Errorf("invisible format character %U at byte %d", r, i)
		}
	}
	return nil
}

func checkID(what, id string) error {
	if err := ValidID(id); err != nil {
		return invalid("%s %q: %v", what, id, err)
	}
	return nil
}

// checkName checks a required display name or title (ValidName); one over
// MaxNameBytes is TOO_LARGE, like every other field over its limit.
func checkName(what, s string) error {
	if err := checkText(what, s, MaxNameBytes, true); err != nil {
		return err
	}
	if err := ValidName(s); err != nil {
		return invalid("%s %q: %v", what, s, err)
	}
	return nil
}

func checkText(what, s string, limit int, required bool) error {
	if required && s == "" {
		return invalid("%s is required", what)
	}
	if len(s) > limit {
		return fail(pb.ResultCode_RESULT_CODE_TOO_LARGE, "%s is %d bytes, limit %d", what, len(s), limit)
	}
	return nil
}

func checkListLen(what string, n int) error {
	if n > MaxListLen {
		return fail(pb.ResultCode_RESULT_CODE_TOO_LARGE, "%d %s, limit %d", n, what, MaxListLen)
	}
	return nil
}

func checkIDList(what string, ids []string) error {
	if err := checkListLen(what, len(ids)); err != nil {
		return err
	}
	for i, id := range ids {
		if err := checkID(what, id); err != nil {
			return err
		}
		if slices.Contains(ids[:i], id) {
			return invalid("%s %q listed twice", what, id)
		}
	}
	return nil
}

func checkAttributes(what string, attrs []*pb.Attribute) error {
	if err := checkListLen(what, len(attrs)); err != nil {
		return err
	}
	for i, a := range attrs {
		if err := checkText(what+" name", a.GetName(), MaxAttrNameBytes, true); err != nil {
			return err
		}
		if err := checkText(what+" value", a.GetValue(), MaxAttrValueBytes, false); err != nil {
			return err
		}
		for _, b := range attrs[:i] {
			if b.GetName() == a.GetName() {
				return invalid("%s %q given twice", what, a.GetName())
			}
		}
	}
	return nil
}

// checkPublicKey refuses a key that is not a valid key of the chain's
// suite's scheme (Suite.CheckKey): every key that enters the state is one
// (ARCHITECTURE.md §7 "Faults and hostile input"). A key that is no valid
// key at all is refused as before suites, with the same words (a result's
// text is hashed into the chain, and chains made before suites replay
// their blocks); only a valid key of another scheme meets the suite's
// refusal.
func checkPublicKey(suite crypto.Suite, what string, k *pb.PublicKey) error {
	if err := crypto.ValidatePublicKey(k); err != nil {
		return invalid("%s: %v", what, err)
	}
	if k.GetScheme() != suite.Scheme() {
		if err := suite.CheckKey(what, k); err != nil {
			return invalid("%v", err)
		}
	}
	return nil
}

// checkPeerBinding refuses a department's peer binding that breaks the one
// rule, crypto.CheckPeerBinding, on this chain: on "sm2-sm3" the
// department's consensus key must have signed its node's peer id, on
// "ed25519-sha256" there must be none (ARCHITECTURE.md §7 "Faults and
// hostile input").
func (e *Executor) checkPeerBinding(what, dept, peerID string, key *pb.PublicKey, binding []byte) error {
	if err := crypto.CheckPeerBinding(e.cfg.Suite, e.cfg.ChainID, dept, peerID, key, binding); err != nil {
		return invalid("%s: %v", what, err)
	}
	return nil
}

func validRole(r pb.Role) bool {
	return r >= pb.Role_ROLE_ADMIN && r <= pb.Role_ROLE_AUDITOR
}

func checkRoles(roles []pb.Role, issuerTypes []string) error {
	if err := checkListLen("roles", len(roles)); err != nil {
		return err
	}
	for i, r := range roles {
		if !validRole(r) {
			return invalid("role %v is not a valid role", r)
		}
		if slices.Contains(roles[:i], r) {
			return invalid("role %v listed twice", r)
		}
	}
	if err := checkIDList("issuer record type", issuerTypes); err != nil {
		return err
	}
	if len(issuerTypes) > 0 && !slices.Contains(roles, pb.Role_ROLE_ISSUER) {
		return invalid("issuer record types given without ROLE_ISSUER")
	}
	return nil
}

func checkHash(what string, h []byte) error {
	if len(h) != crypto.HashSize {
		return invalid("%s is %d bytes, want a %d-byte SHA-256", what, len(h), crypto.HashSize)
	}
	return nil
}

func checkFields(what string, fs []*pb.ContractField) error {
	if err := checkListLen(what, len(fs)); err != nil {
		return err
	}
	for i, f := range fs {
		if err := checkID(what+" name", f.GetName()); err != nil {
			return err
		}
		switch v := f.GetValue().(type) {
		case *pb.ContractField_StringValue:
			if err := checkText(what+" "+f.GetName(), v.StringValue, MaxFieldBytes, false); err != nil {
				return err
			}
		case *pb.ContractField_BytesValue:
			if len(v.BytesValue) > MaxFieldBytes {
				return fail(pb.ResultCode_RESULT_CODE_TOO_LARGE, "%s %s is %d bytes, limit %d", what, f.GetName(), len(v.BytesValue), MaxFieldBytes)
			}
		case *pb.ContractField_IntValue, *pb.ContractField_BoolValue:
		default:
			return invalid("%s %s has no value", what, f.GetName())
		}
		for _, g := range fs[:i] {
			if g.GetName() == f.GetName() {
				return invalid("%s %s given twice", what, f.GetName())
			}
		}
	}
	return nil
}

func validateDepartment(suite crypto.Suite, d *pb.Department) error {
	if d == nil {
		return invalid("department missing")
	}
	if err := checkID("department id", d.GetId()); err != nil {
		return err
	}
	if err := checkName("department name", d.GetName()); err != nil {
		return err
	}
	if err := checkPublicKey(suite, "department consensus key", d.GetConsensusKey()); err != nil {
		return err
	}
	if err := checkText("peer id", d.GetPeerId(), MaxNameBytes, false); err != nil {
		return err
	}
	if err := checkListLen("addrs", len(d.GetAddrs())); err != nil {
		return err
	}
	for _, a := range d.GetAddrs() {
		if err := checkText("addr", a, MaxNameBytes, true); err != nil {
			return err
		}
	}
	return nil
}

// validateRecordTypeShape checks a record type without state.
func validateRecordTypeShape(t *pb.RecordType) error {
	if t == nil {
		return invalid("record type missing")
	}
	if err := checkID("record type id", t.GetId()); err != nil {
		return err
	}
	if err := checkName("record type name", t.GetName()); err != nil {
		return err
	}
	lists := []struct {
		what string
		ids  []string
	}{
		{"create department", t.GetCreateDepartments()},
		{"amend department", t.GetAmendDepartments()},
		{"transfer department", t.GetTransferDepartments()},
		{"revoke department", t.GetRevokeDepartments()},
	}
	for _, l := range lists {
		if err := checkIDList(l.what, l.ids); err != nil {
			return err
		}
	}
	if len(t.GetCreateDepartments()) == 0 {
		return invalid("record type %s: no department may create it", t.GetId())
	}
	if t.GetOnChainContent() && (t.GetMaxContentBytes() == 0 || t.GetMaxContentBytes() > HardMaxTxBytes) {
		return invalid("record type %s: on-chain content needs max_content_bytes in 1..%d", t.GetId(), HardMaxTxBytes)
	}
	if err := checkVisibility(t); err != nil {
		return err
	}
	if t.GetTransferNeedsConsent() && !t.GetTransferable() {
		return invalid("record type %s: transfer_needs_consent without transferable", t.GetId())
	}
	if len(t.GetTransferDepartments()) > 0 && !t.GetTransferable() {
		return invalid("record type %s: transfer departments on a non-transferable type", t.GetId())
	}
	return nil
}

// checkVisibility checks a record type's visibility (ARCHITECTURE.md §5,
// "Who can read what"): a known value, and for a protected type content
// kept beside the chain (on_chain_content false) with a bound on each
// payload's content (max_content_bytes, which the node checks at
// SubmitTx).
func checkVisibility(t *pb.RecordType) error {
	switch t.GetVisibility() {
	case pb.ContentVisibility_CONTENT_VISIBILITY_UNSPECIFIED, pb.ContentVisibility_CONTENT_VISIBILITY_PUBLIC:
		return nil
	case pb.ContentVisibility_CONTENT_VISIBILITY_PROTECTED:
		if t.GetOnChainContent() {
			return invalid("record type %s is protected: its content is kept beside the chain, so on_chain_content must be false", t.GetId())
		}
		if t.GetMaxContentBytes() == 0 || t.GetMaxContentBytes() > HardMaxTxBytes {
			return invalid("record type %s is protected: max_content_bytes must be in 1..%d (it bounds each version's content)", t.GetId(), HardMaxTxBytes)
		}
		return nil
	default:
		return invalid("record type %s: visibility %d is not a known visibility (PUBLIC or PROTECTED)", t.GetId(), int32(t.GetVisibility()))
	}
}

// IsProtected reports whether records of type t are protected (ARCHITECTURE.md
// §5, "Who can read what"): only hashes on chain, the content beside it,
// released to entitled callers once an access entry is committed, and
// erasable. UNSPECIFIED (record types from before visibility existed) and
// PUBLIC are public.
func IsProtected(t *pb.RecordType) bool {
	return t.GetVisibility() == pb.ContentVisibility_CONTENT_VISIBILITY_PROTECTED
}

// validateRecordTypeDepartments checks that every department a record type
// names is a member.
func validateRecordTypeDepartments(t *pb.RecordType, isMember func(string) (bool, error)) error {
	all := slices.Concat(t.GetCreateDepartments(), t.GetAmendDepartments(), t.GetTransferDepartments(), t.GetRevokeDepartments())
	for _, d := range all {
		ok, err := isMember(d)
		if err != nil {
			return err
		}
		if !ok {
			return notFound("record type %s names department %s, which is not a member", t.GetId(), d)
		}
	}
	return nil
}

// validateOfficialShape checks a RegisterOfficial (tx, or a governance
// AddDepartment's admin).
func validateOfficialShape(suite crypto.Suite, a *pb.RegisterOfficial) error {
	if a == nil {
		return invalid("official missing")
	}
	if err := checkID("identity id", a.GetIdentityId()); err != nil {
		return err
	}
	if a.GetDepartmentId() != "" {
		if err := checkID("department id", a.GetDepartmentId()); err != nil {
			return err
		}
	}
	if err := checkName("display name", a.GetDisplayName()); err != nil {
		return err
	}
	if len(a.GetRoles()) == 0 {
		return invalid("an official needs at least one role")
	}
	if err := checkRoles(a.GetRoles(), a.GetIssuerRecordTypes()); err != nil {
		return err
	}
	return checkPublicKey(suite, "public key", a.GetPublicKey())
}
