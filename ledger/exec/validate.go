package exec

import (
	"errors"
	"fmt"
	"slices"

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
)

// checkIDString: 1..MaxIDBytes of [A-Za-z0-9._:@-].
// ValidID checks an id against the charset and length every object id
// must have; the API refuses other ids before reading state.
func ValidID(id string) error { return checkIDString(id) }

func checkIDString(id string) error {
	if id == "" {
		return errors.New("empty")
	}
	if len(id) > MaxIDBytes {
		return fmt.Errorf("%d bytes, limit %d", len(id), MaxIDBytes)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '.' || c == '_' || c == ':' || c == '@' || c == '-'
		if !ok {
			return fmt.Errorf("character %q not allowed (use A-Z a-z 0-9 . _ : @ -)", c)
		}
	}
	return nil
}

func checkID(what, id string) error {
	if err := checkIDString(id); err != nil {
		return invalid("%s %q: %v", what, id, err)
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

func checkPublicKey(what string, k *pb.PublicKey) error {
	if err := crypto.ValidatePublicKey(k); err != nil {
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

// validateParams checks chain parameters (genesis and governance).
func validateParams(p *pb.Params) error {
	switch {
	case p == nil:
		return invalid("params missing")
	case p.GetProposeTimeoutMs() == 0 || p.GetMaxViewTimeoutMs() == 0 || p.GetHeartbeatIntervalMs() == 0:
		return invalid("params: timeouts and heartbeat interval must be positive")
	case p.GetMaxViewTimeoutMs() < p.GetProposeTimeoutMs():
		return invalid("params: max view timeout %d below propose timeout %d", p.GetMaxViewTimeoutMs(), p.GetProposeTimeoutMs())
	case p.GetMaxTxBytes() == 0 || p.GetMaxTxBytes() > HardMaxTxBytes:
		return invalid("params: max tx bytes %d out of range (1..%d)", p.GetMaxTxBytes(), HardMaxTxBytes)
	case p.GetMaxBlockBytes() < p.GetMaxTxBytes():
		return invalid("params: max block bytes %d below max tx bytes %d", p.GetMaxBlockBytes(), p.GetMaxTxBytes())
	case p.GetMaxBlockTxs() == 0:
		return invalid("params: max block txs is 0")
	case p.GetValidatorChangeDelay() == 0:
		return invalid("params: validator change delay must be at least 1")
	}
	return nil
}

func validateDepartment(d *pb.Department) error {
	if d == nil {
		return invalid("department missing")
	}
	if err := checkID("department id", d.GetId()); err != nil {
		return err
	}
	if err := checkText("department name", d.GetName(), MaxNameBytes, true); err != nil {
		return err
	}
	if err := checkPublicKey("department consensus key", d.GetConsensusKey()); err != nil {
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
	if err := checkText("record type name", t.GetName(), MaxNameBytes, true); err != nil {
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
	if t.GetTransferNeedsConsent() && !t.GetTransferable() {
		return invalid("record type %s: transfer_needs_consent without transferable", t.GetId())
	}
	if len(t.GetTransferDepartments()) > 0 && !t.GetTransferable() {
		return invalid("record type %s: transfer departments on a non-transferable type", t.GetId())
	}
	return nil
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
func validateOfficialShape(a *pb.RegisterOfficial) error {
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
	if err := checkText("display name", a.GetDisplayName(), MaxNameBytes, true); err != nil {
		return err
	}
	if len(a.GetRoles()) == 0 {
		return invalid("an official needs at least one role")
	}
	if err := checkRoles(a.GetRoles(), a.GetIssuerRecordTypes()); err != nil {
		return err
	}
	return checkPublicKey("public key", a.GetPublicKey())
}
