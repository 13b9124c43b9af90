package exec

import (
	"slices"
	"strings"

	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Erasing personal data (ARCHITECTURE.md §5, "Erasing personal data"):
//   - EraseRecordContent: of a record of a protected type, signed by the
//     record's subject with a legal basis, or by an active ISSUER official
//     whose issuer_record_types name the type, of the record's issuing
//     department (a member). Once per record.
//   - It sets the record's erased_height, erased_by, erase_reason and
//     erase_legal_basis (and updated_height) and emits RecordEvent
//     "erased"; the versions, their content hashes and their proofs stay,
//     and no version is added. Every node deletes the payloads beside the
//     chain when it sees the erasure committed.
//   - After it: AmendRecord is refused (CONFLICT), RecordAccesses of the
//     record too (NOT_FOUND); TransferRecord and RevokeRecord still apply.

func validateErase(a *pb.EraseRecordContent) error {
	if err := checkID("record id", a.GetRecordId()); err != nil {
		return err
	}
	if err := checkText("reason", a.GetReason(), MaxTextBytes, false); err != nil {
		return err
	}
	return checkText("legal basis", a.GetLegalBasis(), MaxTextBytes, false)
}

// checkErase checks an erasure of rec by signer against st and returns the
// department the signer acts for: the issuing department for an issuer,
// "" for the subject.
func checkErase(st *overlay, signer *pb.Identity, rec *pb.Record, a *pb.EraseRecordContent) (string, error) {
	t := &pb.RecordType{}
	if ok, err := st.getMsg(kRecordType(rec.GetRecordType()), t); err != nil {
		return "", err
	} else if !ok {
		return "", fmtInvariant("record %s has type %s, which is not in state", rec.GetId(), rec.GetRecordType())
	}
	if !IsProtected(t) {
		if t.GetOnChainContent() {
			return "", invalid("record type %s is public: its content is in the chain and cannot be erased", t.GetId())
		}
		return "", invalid("record type %s is public: it keeps no content beside the chain to erase", t.GetId())
	}
	issuer, err := issuesInDepartment(st, signer, t, rec.GetIssuerDepartmentId())
	if err != nil {
		return "", err
	}
	dept := rec.GetIssuerDepartmentId()
	switch {
	case issuer:
	case signer.GetId() == rec.GetSubjectId():
		if strings.TrimSpace(a.GetLegalBasis()) == "" {
			return "", invalid("%s, the subject of record %s, needs a legal basis to erase its content", signer.GetId(), rec.GetId())
		}
		dept = ""
	default:
		return "", unauthorized("%s is neither the subject of record %s nor an issuer of record type %s in its issuing department %s",
			signer.GetId(), rec.GetId(), t.GetId(), rec.GetIssuerDepartmentId())
	}
	if rec.GetErasedHeight() != 0 {
		return "", conflict("content of record %s was already erased at height %d", rec.GetId(), rec.GetErasedHeight())
	}
	return dept, nil
}

// issuesInDepartment reports whether signer is an active ISSUER official
// of member department dept whose issuer_record_types name t.
func issuesInDepartment(st *overlay, signer *pb.Identity, t *pb.RecordType, dept string) (bool, error) {
	if signer.GetKind() != pb.IdentityKind_IDENTITY_KIND_OFFICIAL || signer.GetDepartmentId() != dept ||
		!slices.Contains(signer.GetRoles(), pb.Role_ROLE_ISSUER) || !slices.Contains(signer.GetIssuerRecordTypes(), t.GetId()) {
		return false, nil
	}
	return st.has(kDept(dept))
}

func (tc *txCtx) eraseRecordContent(a *pb.EraseRecordContent) error {
	r, _, err := tc.loadRecord(a.GetRecordId())
	if err != nil {
		return err
	}
	dept, err := checkErase(tc.st, tc.signer, r, a)
	if err != nil {
		return err
	}
	r.ErasedHeight, r.ErasedBy, r.EraseReason, r.EraseLegalBasis = tc.b.height, tc.actor(), a.GetReason(), a.GetLegalBasis()
	r.UpdatedHeight = tc.b.height
	if err := tc.st.putMsg(kRecord(r.GetId()), r); err != nil {
		return err
	}
	tc.emitRecord(recordEvent(r, "erased", tc.actor(), dept))
	return nil
}
