package exec

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Who can read what (ARCHITECTURE.md §5, "Who can read what"):
//   - A record of a protected type keeps only the commitment of each
//     version's content on chain; the content is a Payload kept beside the
//     chain by the member nodes.
//   - The accessor must be an active identity; then it is entitled to the
//     content if it is (a) the record's subject or holder, (b) an official
//     of the record's issuing department, (c) an official holding
//     ROLE_AUDITOR who gives a legal basis, or (d) an official of a
//     department D with a live grant (not revoked, valid_until >= now) from
//     the subject to D covering the record or its type. The officials of
//     (b)-(d) belong to a member department. ContentEntitlement is the one
//     rule: the state machine applies it to each RecordAccesses entry at
//     block time, the API as its pre-check.
//   - RecordAccesses: signed by the validator identity of a member
//     department (ValidatorIdentityID), whose node is about to release the
//     content; 1..MaxAccessesPerTx accesses, each to a committed record of
//     a protected type whose content is not erased, by an entitled
//     accessor, with a purpose and a channel ("query" or "events"). Each
//     appends an AccessEntry (recorded_by the signer's department) like
//     AccessRecord and emits RecordEvent "accessed"; one bad access fails
//     the whole tx.

// MaxAccessesPerTx bounds the accesses of one RecordAccesses.
const MaxAccessesPerTx = 256

// Channels of a node-recorded release (ContentAccess.channel).
const (
	ChannelQuery  = "query"  // QueryRecord
	ChannelEvents = "events" // StreamEvents
)

// ContentEntitlement reports whether identity accessorID may read the
// content of rec, a record of a protected type, at time nowSec (unix
// seconds; the block time in the state machine), with legalBasis the legal
// basis the accessor gives (needed only by an auditor without another
// title). It returns the id of the grant that entitles the accessor, or ""
// when no grant was needed. It is deterministic: it reads only r.
//
// A refusal is an error with a result code (RefusalOf; it has a
// ResultCode method, so the node's Refusal interfaces match it):
// NOT_FOUND for an unknown accessor, UNAUTHORIZED for an accessor that is
// not active or may never read the record (a citizen or company that is
// neither its subject nor its holder, an official of a department that is
// not a member), CONSENT_REQUIRED for an official of another department
// with no live grant from the subject (the reason names an expired grant
// when one would have covered it). Any other error is a storage failure.
// It does not look at the record type: whether a record is protected, or
// erased, is the caller's check.
func ContentEntitlement(r Reader, accessorID string, rec *pb.Record, legalBasis string, nowSec int64) (grantID string, err error) {
	_, grantID, err = entitlement(newOverlay(readerKV{r}), accessorID, rec, legalBasis, nowSec)
	return grantID, err
}

// entitlement is ContentEntitlement over st; it also returns the accessor.
func entitlement(st *overlay, accessorID string, rec *pb.Record, legalBasis string, nowSec int64) (*pb.Identity, string, error) {
	acc := &pb.Identity{}
	ok, err := st.getMsg(kIdentity(accessorID), acc)
	if err != nil {
		return nil, "", err
	}
	if !ok {
		return nil, "", notFound("accessor %s is not a registered identity", accessorID)
	}
	if acc.GetStatus() != pb.IdentityStatus_IDENTITY_STATUS_ACTIVE {
		return nil, "", unauthorized("accessor %s is %s: it may read no protected content", accessorID, statusName(acc.GetStatus()))
	}
	if accessorID == rec.GetSubjectId() || accessorID == rec.GetHolderId() {
		return acc, "", nil
	}
	if acc.GetKind() != pb.IdentityKind_IDENTITY_KIND_OFFICIAL {
		return nil, "", unauthorized("%s is neither the subject (%s) nor the holder (%s) of record %s", accessorID, rec.GetSubjectId(), rec.GetHolderId(), rec.GetId())
	}
	dept := acc.GetDepartmentId()
	if ok, err := st.has(kDept(dept)); err != nil {
		return nil, "", err
	} else if !ok {
		return nil, "", unauthorized("%s's department %s is not a member", accessorID, dept)
	}
	if dept == rec.GetIssuerDepartmentId() {
		return acc, "", nil
	}
	auditor := slices.Contains(acc.GetRoles(), pb.Role_ROLE_AUDITOR)
	if auditor && strings.TrimSpace(legalBasis) != "" {
		return acc, "", nil
	}
	g, expired, err := findGrant(st, rec, dept, nowSec)
	if err != nil {
		return nil, "", err
	}
	if g != nil {
		return acc, g.GetId(), nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s of department %s has no live grant from %s for record %s or record type %s (the record was issued by %s)",
		accessorID, dept, rec.GetSubjectId(), rec.GetId(), rec.GetRecordType(), rec.GetIssuerDepartmentId())
	if expired != nil {
		fmt.Fprintf(&b, "; grant %s expired at %s", expired.GetId(), unixText(expired.GetValidUntil()))
	}
	if auditor {
		b.WriteString("; as an auditor it needs a legal basis")
	}
	return nil, "", fail(pb.ResultCode_RESULT_CODE_CONSENT_REQUIRED, "%s", b.String())
}

// unixText is unix seconds s as an RFC 3339 UTC time, with s itself.
func unixText(s int64) string {
	return fmt.Sprintf("%s (%d)", time.Unix(s, 0).UTC().Format(time.RFC3339), s)
}

func validateRecordAccesses(a *pb.RecordAccesses) error {
	n := len(a.GetAccesses())
	if n == 0 {
		return invalid("a RecordAccesses logs at least one access")
	}
	if n > MaxAccessesPerTx {
		return fail(pb.ResultCode_RESULT_CODE_TOO_LARGE, "%d accesses, limit %d", n, MaxAccessesPerTx)
	}
	for i, c := range a.GetAccesses() {
		if c == nil {
			return invalid("access %d is empty", i)
		}
		at := fmt.Sprintf("access %d ", i)
		if err := checkID(at+"record id", c.GetRecordId()); err != nil {
			return err
		}
		if err := checkID(at+"accessor id", c.GetAccessorId()); err != nil {
			return err
		}
		if err := checkText(at+"purpose", c.GetPurpose(), MaxTextBytes, true); err != nil {
			return err
		}
		if err := checkText(at+"legal basis", c.GetLegalBasis(), MaxTextBytes, false); err != nil {
			return err
		}
		if ch := c.GetChannel(); ch != ChannelQuery && ch != ChannelEvents {
			return invalid("%schannel %q: want %q or %q", at, ch, ChannelQuery, ChannelEvents)
		}
	}
	return nil
}

// requireValidatorIdentity checks that signer is the validator identity of
// a member department (ValidatorIdentityID) and returns the department.
// The envelope checks made sure it is active.
func requireValidatorIdentity(st *overlay, signer *pb.Identity) (*pb.Department, error) {
	dept := signer.GetDepartmentId()
	if signer.GetKind() != pb.IdentityKind_IDENTITY_KIND_OFFICIAL || signer.GetId() != ValidatorIdentityID(dept) {
		return nil, unauthorized("%s is not a department's validator identity: only a member node records the releases of protected content", signer.GetId())
	}
	d := &pb.Department{}
	ok, err := st.getMsg(kDept(dept), d)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, unauthorized("%s is the validator identity of department %s, which is not a member", signer.GetId(), dept)
	}
	return d, nil
}

// contentRelease is one checked access of a RecordAccesses.
type contentRelease struct {
	rec      *pb.Record
	accessor *pb.Identity
	grantID  string
}

// checkContentAccess checks access i of a RecordAccesses against st at
// time nowSec: the record exists, is of a protected type, its content is
// not erased, and the accessor is entitled. A refusal names the access.
func checkContentAccess(st *overlay, i int, c *pb.ContentAccess, nowSec int64) (*contentRelease, error) {
	rel, err := checkContentAccessOf(st, c, nowSec)
	if te, ok := asTxError(err); ok {
		return nil, fail(te.code, "access %d: %s", i, te.reason)
	}
	return rel, err
}

func checkContentAccessOf(st *overlay, c *pb.ContentAccess, nowSec int64) (*contentRelease, error) {
	rec := &pb.Record{}
	ok, err := st.getMsg(kRecord(c.GetRecordId()), rec)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, notFound("record %s not found", c.GetRecordId())
	}
	t := &pb.RecordType{}
	if ok, err := st.getMsg(kRecordType(rec.GetRecordType()), t); err != nil {
		return nil, err
	} else if !ok {
		return nil, fmtInvariant("record %s has type %s, which is not in state", rec.GetId(), rec.GetRecordType())
	}
	if !IsProtected(t) {
		return nil, invalid("record type %s is public: the content of record %s is released to everyone, with no access entry", t.GetId(), rec.GetId())
	}
	if rec.GetErasedHeight() != 0 {
		return nil, notFound("content of record %s was erased at height %d", rec.GetId(), rec.GetErasedHeight())
	}
	acc, grantID, err := entitlement(st, c.GetAccessorId(), rec, c.GetLegalBasis(), nowSec)
	if err != nil {
		return nil, err
	}
	return &contentRelease{rec: rec, accessor: acc, grantID: grantID}, nil
}

// accessorDepartment is the department an access entry names: the
// accessor's, for an official; none for a citizen or company.
func accessorDepartment(acc *pb.Identity) string {
	if acc.GetKind() == pb.IdentityKind_IDENTITY_KIND_OFFICIAL {
		return acc.GetDepartmentId()
	}
	return ""
}

func (tc *txCtx) recordAccesses(a *pb.RecordAccesses) error {
	d, err := requireValidatorIdentity(tc.st, tc.signer)
	if err != nil {
		return err
	}
	for i, c := range a.GetAccesses() {
		// Checked against tc.st, so an access sees the entries the
		// earlier ones of this tx wrote (nothing it depends on).
		rel, err := checkContentAccess(tc.st, i, c, tc.nowSec())
		if err != nil {
			return err
		}
		if err := tc.appendAccess(rel.rec, &pb.AccessEntry{
			AccessorId: rel.accessor.GetId(), DepartmentId: accessorDepartment(rel.accessor), Purpose: c.GetPurpose(),
			LegalBasis: c.GetLegalBasis(), GrantId: rel.grantID, RecordedBy: d.GetId(), Channel: c.GetChannel(),
		}); err != nil {
			return err
		}
	}
	return nil
}

// precheckPersonal is CheckTx's check of a RecordAccesses or an
// EraseRecordContent against committed state, so that one that would fail
// is refused before it reaches a block; and of an AmendRecord of an
// erased record. A RecordAccesses is judged in
// full, since its node built it from committed state (a record it names
// that is not committed is refused too), except for grant expiry when r
// does not know the time of the last block (TimeReader): block time only
// grows, so a grant expired before the last committed block is expired in
// every later one. An EraseRecordContent of a record not committed yet
// (its create may be pending) is left to ApplyBlock.
func precheckPersonal(st *overlay, r Reader, signer *pb.Identity, body *pb.TxBody) error {
	switch a := body.GetAction().(type) {
	case *pb.TxBody_RecordAccesses:
		if _, err := requireValidatorIdentity(st, signer); err != nil {
			return err
		}
		now := int64(math.MinInt64) // every grant not revoked counts as live
		if tr, ok := r.(TimeReader); ok {
			if ms, ok := tr.TimeUnixMs(); ok {
				now = floorDiv(ms, 1000)
			}
		}
		for i, c := range a.RecordAccesses.GetAccesses() {
			if _, err := checkContentAccess(st, i, c, now); err != nil {
				return err
			}
		}
	case *pb.TxBody_EraseRecordContent:
		rec := &pb.Record{}
		ok, err := st.getMsg(kRecord(a.EraseRecordContent.GetRecordId()), rec)
		if err != nil || !ok {
			return err
		}
		_, err = checkErase(st, signer, rec, a.EraseRecordContent)
		return err
	case *pb.TxBody_AmendRecord:
		// An erasure is final: an amendment of an erased record can
		// never apply.
		rec := &pb.Record{}
		ok, err := st.getMsg(kRecord(a.AmendRecord.GetRecordId()), rec)
		if err != nil || !ok {
			return err
		}
		if rec.GetErasedHeight() != 0 {
			return conflict("content of record %s was erased at height %d: it cannot be amended", rec.GetId(), rec.GetErasedHeight())
		}
	}
	return nil
}

// TimeReader is a Reader that knows the time of the last block of the
// state it reads. CheckTx uses it to refuse a RecordAccesses whose grant
// has expired; with a plain Reader it counts every grant not revoked as
// live there, and the block judges expiry.
type TimeReader interface {
	Reader
	// TimeUnixMs is the header time of the last committed block; false
	// before the first block.
	TimeUnixMs() (int64, bool)
}
