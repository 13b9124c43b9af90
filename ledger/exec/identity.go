package exec

import (
	"google.golang.org/protobuf/proto"

	"slices"

	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Identity rules (ARCHITECTURE.md §5, identity):
//   - RegisterOfficial: an active admin of a member department registers an
//     official of that same department.
//   - RegisterSubject: a registrar registers a citizen or company; the
//     registrar's department becomes its registering department.
//   - RotateKey: by the holder itself, or, with a reason, by the identity's
//     custodian: a registrar of the registering department for citizens and
//     companies, an admin of the department for officials.
//   - SetIdentityStatus: by the custodian (as above), never on oneself;
//     revocation is final; suspension and revocation need a reason.
//   - SetRoles: an admin of the official's department, not on itself.
//   - IssueCredential: an issuer of a member department; RevokeCredential:
//     an issuer or admin of the issuing department.

func validateIdentityAction(suite crypto.Suite, body *pb.TxBody) error {
	switch a := body.GetAction().(type) {
	case *pb.TxBody_RegisterOfficial:
		return validateOfficialShape(suite, a.RegisterOfficial)
	case *pb.TxBody_RegisterSubject:
		s := a.RegisterSubject
		if err := checkID("identity id", s.GetIdentityId()); err != nil {
			return err
		}
		if k := s.GetKind(); k != pb.IdentityKind_IDENTITY_KIND_CITIZEN && k != pb.IdentityKind_IDENTITY_KIND_COMPANY {
			return invalid("kind %v: a subject is a citizen or a company", k)
		}
		if err := checkName("display name", s.GetDisplayName()); err != nil {
			return err
		}
		if err := checkAttributes("attribute", s.GetAttributes()); err != nil {
			return err
		}
		return checkPublicKey(suite, "public key", s.GetPublicKey())
	case *pb.TxBody_RotateKey:
		if err := checkID("identity id", a.RotateKey.GetIdentityId()); err != nil {
			return err
		}
		if err := checkText("reason", a.RotateKey.GetReason(), MaxTextBytes, false); err != nil {
			return err
		}
		return checkPublicKey(suite, "new public key", a.RotateKey.GetNewPublicKey())
	case *pb.TxBody_SetIdentityStatus:
		s := a.SetIdentityStatus
		if err := checkID("identity id", s.GetIdentityId()); err != nil {
			return err
		}
		switch s.GetStatus() {
		case pb.IdentityStatus_IDENTITY_STATUS_ACTIVE:
		case pb.IdentityStatus_IDENTITY_STATUS_SUSPENDED, pb.IdentityStatus_IDENTITY_STATUS_REVOKED:
			if s.GetReason() == "" {
				return invalid("suspension and revocation need a reason")
			}
		default:
			return invalid("status %v is not a settable status", s.GetStatus())
		}
		return checkText("reason", s.GetReason(), MaxTextBytes, false)
	case *pb.TxBody_SetRoles:
		if err := checkID("identity id", a.SetRoles.GetIdentityId()); err != nil {
			return err
		}
		return checkRoles(a.SetRoles.GetRoles(), a.SetRoles.GetIssuerRecordTypes())
	case *pb.TxBody_IssueCredential:
		c := a.IssueCredential
		if err := checkID("credential id", c.GetCredentialId()); err != nil {
			return err
		}
		if err := checkID("subject id", c.GetSubjectId()); err != nil {
			return err
		}
		if err := checkID("credential type", c.GetCredentialType()); err != nil {
			return err
		}
		if c.GetExpiresAt() < 0 {
			return invalid("expires_at %d is negative", c.GetExpiresAt())
		}
		return checkAttributes("claim", c.GetClaims())
	case *pb.TxBody_RevokeCredential:
		if err := checkID("credential id", a.RevokeCredential.GetCredentialId()); err != nil {
			return err
		}
		return checkText("reason", a.RevokeCredential.GetReason(), MaxTextBytes, true)
	}
	return nil
}

// requireOfficial checks that signer is an active official of a member
// department holding one of roles (any role if none given) and returns its
// department.
func requireOfficial(st *overlay, signer *pb.Identity, roles ...pb.Role) (*pb.Department, error) {
	if signer.GetKind() != pb.IdentityKind_IDENTITY_KIND_OFFICIAL {
		return nil, unauthorized("%s is not an official", signer.GetId())
	}
	dept := &pb.Department{}
	ok, err := st.getMsg(kDept(signer.GetDepartmentId()), dept)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, unauthorized("%s's department %s is not a member", signer.GetId(), signer.GetDepartmentId())
	}
	if len(roles) == 0 {
		return dept, nil
	}
	for _, r := range roles {
		if slices.Contains(signer.GetRoles(), r) {
			return dept, nil
		}
	}
	return nil, unauthorized("%s holds none of the roles %v", signer.GetId(), roles)
}

func (tc *txCtx) loadIdentity(id string) (*pb.Identity, error) {
	idn := &pb.Identity{}
	ok, err := tc.st.getMsg(kIdentity(id), idn)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, notFound("identity %s not found", id)
	}
	return idn, nil
}

func (tc *txCtx) isMember(dept string) (bool, error) { return tc.st.has(kDept(dept)) }

// requireCustodian checks that the signer may manage target's status and
// key: a registrar of the registering department for a citizen or company,
// an admin of the department for an official.
func (tc *txCtx) requireCustodian(target *pb.Identity) error {
	role := pb.Role_ROLE_REGISTRAR
	if target.GetKind() == pb.IdentityKind_IDENTITY_KIND_OFFICIAL {
		role = pb.Role_ROLE_ADMIN
	}
	dept, err := requireOfficial(tc.st, tc.signer, role)
	if err != nil {
		return err
	}
	if dept.GetId() != target.GetDepartmentId() {
		return unauthorized("%s (department %s) may not manage %s of department %s", tc.actor(), dept.GetId(), target.GetId(), target.GetDepartmentId())
	}
	return nil
}

func identityEvent(id, action string, status pb.IdentityStatus, actor string) *pb.Event {
	return &pb.Event{Kind: &pb.Event_Identity{Identity: &pb.IdentityEvent{IdentityId: id, Action: action, Status: status, ActorId: actor}}}
}

func (tc *txCtx) checkIssuerTypesExist(types []string) error {
	for _, t := range types {
		ok, err := tc.st.has(kRecordType(t))
		if err != nil {
			return err
		}
		if !ok {
			return notFound("record type %s not found", t)
		}
	}
	return nil
}

func (tc *txCtx) registerOfficial(a *pb.RegisterOfficial) error {
	dept, err := requireOfficial(tc.st, tc.signer, pb.Role_ROLE_ADMIN)
	if err != nil {
		return err
	}
	deptID := a.GetDepartmentId()
	if deptID == "" {
		deptID = dept.GetId()
	}
	if deptID != dept.GetId() {
		return unauthorized("an admin of %s may not register officials of %s", dept.GetId(), deptID)
	}
	if err := tc.checkIssuerTypesExist(a.GetIssuerRecordTypes()); err != nil {
		return err
	}
	return tc.putNewIdentity(&pb.Identity{
		Id:                a.GetIdentityId(),
		Kind:              pb.IdentityKind_IDENTITY_KIND_OFFICIAL,
		DepartmentId:      deptID,
		DisplayName:       a.GetDisplayName(),
		PublicKey:         a.GetPublicKey(),
		Status:            pb.IdentityStatus_IDENTITY_STATUS_ACTIVE,
		Roles:             a.GetRoles(),
		IssuerRecordTypes: a.GetIssuerRecordTypes(),
	})
}

func (tc *txCtx) putNewIdentity(idn *pb.Identity) error {
	ok, err := tc.st.has(kIdentity(idn.GetId()))
	if err != nil {
		return err
	}
	if ok {
		return exists("identity %s already exists", idn.GetId())
	}
	idn.CreatedHeight, idn.UpdatedHeight = tc.b.height, tc.b.height
	if err := tc.st.putMsg(kIdentity(idn.GetId()), idn); err != nil {
		return err
	}
	tc.emit(identityEvent(idn.GetId(), "registered", idn.GetStatus(), tc.actor()))
	return nil
}

func (tc *txCtx) registerSubject(a *pb.RegisterSubject) error {
	dept, err := requireOfficial(tc.st, tc.signer, pb.Role_ROLE_REGISTRAR)
	if err != nil {
		return err
	}
	return tc.putNewIdentity(&pb.Identity{
		Id:           a.GetIdentityId(),
		Kind:         a.GetKind(),
		DepartmentId: dept.GetId(),
		DisplayName:  a.GetDisplayName(),
		PublicKey:    a.GetPublicKey(),
		Status:       pb.IdentityStatus_IDENTITY_STATUS_ACTIVE,
		Attributes:   a.GetAttributes(),
	})
}

func (tc *txCtx) rotateKey(a *pb.RotateKey) error {
	target, err := tc.loadIdentity(a.GetIdentityId())
	if err != nil {
		return err
	}
	if target.GetId() != tc.actor() {
		if err := tc.requireCustodian(target); err != nil {
			return err
		}
		if a.GetReason() == "" {
			return invalid("a key rotation by %s on behalf of %s needs a reason", tc.actor(), target.GetId())
		}
	}
	if target.GetStatus() == pb.IdentityStatus_IDENTITY_STATUS_REVOKED {
		return conflict("identity %s is revoked", target.GetId())
	}
	if crypto.PublicKeyEqual(target.GetPublicKey(), a.GetNewPublicKey()) {
		return conflict("the new key of %s is its current key", target.GetId())
	}
	for _, kc := range target.GetKeyHistory() {
		if crypto.PublicKeyEqual(kc.GetPublicKey(), a.GetNewPublicKey()) {
			return conflict("the new key of %s was used before", target.GetId())
		}
	}
	target.KeyHistory = append(target.KeyHistory, &pb.KeyChange{
		PublicKey: target.GetPublicKey(), ReplacedHeight: tc.b.height, ReplacedBy: tc.actor(), Reason: a.GetReason(),
	})
	target.PublicKey = a.GetNewPublicKey()
	target.UpdatedHeight = tc.b.height
	if err := tc.st.putMsg(kIdentity(target.GetId()), target); err != nil {
		return err
	}
	tc.emit(identityEvent(target.GetId(), "key_rotated", target.GetStatus(), tc.actor()))
	return nil
}

func (tc *txCtx) setIdentityStatus(a *pb.SetIdentityStatus) error {
	target, err := tc.loadIdentity(a.GetIdentityId())
	if err != nil {
		return err
	}
	if target.GetId() == tc.actor() {
		return unauthorized("%s may not change its own status", tc.actor())
	}
	if err := tc.requireCustodian(target); err != nil {
		return err
	}
	if target.GetStatus() == pb.IdentityStatus_IDENTITY_STATUS_REVOKED {
		return conflict("identity %s is revoked; revocation is final", target.GetId())
	}
	if target.GetStatus() == a.GetStatus() {
		return conflict("identity %s is already %s", target.GetId(), statusName(a.GetStatus()))
	}
	target.Status = a.GetStatus()
	target.StatusReason = a.GetReason()
	target.UpdatedHeight = tc.b.height
	if err := tc.st.putMsg(kIdentity(target.GetId()), target); err != nil {
		return err
	}
	tc.emit(identityEvent(target.GetId(), "status_changed", target.GetStatus(), tc.actor()))
	return nil
}

func (tc *txCtx) setRoles(a *pb.SetRoles) error {
	target, err := tc.loadIdentity(a.GetIdentityId())
	if err != nil {
		return err
	}
	if target.GetKind() != pb.IdentityKind_IDENTITY_KIND_OFFICIAL {
		return invalid("%s is not an official; only officials hold roles", target.GetId())
	}
	if target.GetId() == tc.actor() {
		return unauthorized("%s may not change its own roles", tc.actor())
	}
	if err := tc.requireCustodian(target); err != nil {
		return err
	}
	if target.GetStatus() == pb.IdentityStatus_IDENTITY_STATUS_REVOKED {
		return conflict("identity %s is revoked", target.GetId())
	}
	if err := tc.checkIssuerTypesExist(a.GetIssuerRecordTypes()); err != nil {
		return err
	}
	target.Roles = a.GetRoles()
	target.IssuerRecordTypes = a.GetIssuerRecordTypes()
	target.UpdatedHeight = tc.b.height
	if err := tc.st.putMsg(kIdentity(target.GetId()), target); err != nil {
		return err
	}
	tc.emit(identityEvent(target.GetId(), "roles_changed", target.GetStatus(), tc.actor()))
	return nil
}

func credentialEvent(c *pb.Credential, action, actor string) *pb.Event {
	return &pb.Event{Kind: &pb.Event_Credential{Credential: &pb.CredentialEvent{
		CredentialId: c.GetId(), SubjectId: c.GetSubjectId(), Action: action, ActorId: actor,
	}}}
}

func (tc *txCtx) issueCredential(a *pb.IssueCredential) error {
	dept, err := requireOfficial(tc.st, tc.signer, pb.Role_ROLE_ISSUER)
	if err != nil {
		return err
	}
	ok, err := tc.st.has(kCred(a.GetCredentialId()))
	if err != nil {
		return err
	}
	if ok {
		return exists("credential %s already exists", a.GetCredentialId())
	}
	subj, err := tc.loadIdentity(a.GetSubjectId())
	if err != nil {
		return err
	}
	if subj.GetStatus() == pb.IdentityStatus_IDENTITY_STATUS_REVOKED {
		return conflict("subject %s is revoked", subj.GetId())
	}
	if a.GetExpiresAt() != 0 && a.GetExpiresAt() <= tc.nowSec() {
		return invalid("expires_at %d is not after the block time %d", a.GetExpiresAt(), tc.nowSec())
	}
	c := &pb.Credential{
		Id: a.GetCredentialId(), SubjectId: subj.GetId(), IssuerId: tc.actor(), IssuerDepartmentId: dept.GetId(),
		CredentialType: a.GetCredentialType(), Claims: a.GetClaims(), IssuedAt: tc.nowSec(), ExpiresAt: a.GetExpiresAt(),
		Height: tc.b.height,
	}
	if err := tc.st.putMsg(kCred(c.GetId()), c); err != nil {
		return err
	}
	tc.st.set(kCredSubj(c.GetSubjectId(), c.GetId()), marker)
	tc.emit(credentialEvent(c, "issued", tc.actor()))
	return nil
}

func (tc *txCtx) revokeCredential(a *pb.RevokeCredential) error {
	dept, err := requireOfficial(tc.st, tc.signer, pb.Role_ROLE_ISSUER, pb.Role_ROLE_ADMIN)
	if err != nil {
		return err
	}
	c := &pb.Credential{}
	ok, err := tc.st.getMsg(kCred(a.GetCredentialId()), c)
	if err != nil {
		return err
	}
	if !ok {
		return notFound("credential %s not found", a.GetCredentialId())
	}
	if c.GetIssuerDepartmentId() != dept.GetId() {
		return unauthorized("credential %s was issued by %s; %s may not revoke it", c.GetId(), c.GetIssuerDepartmentId(), dept.GetId())
	}
	if c.GetRevoked() {
		return conflict("credential %s is already revoked", c.GetId())
	}
	c.Revoked, c.RevokeReason = true, a.GetReason()
	if err := tc.st.putMsg(kCred(c.GetId()), c); err != nil {
		return err
	}
	tc.emit(credentialEvent(c, "revoked", tc.actor()))
	return nil
}

func cloneIdentity(idn *pb.Identity) *pb.Identity {
	return proto.Clone(idn).(*pb.Identity)
}
