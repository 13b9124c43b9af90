package exec

import (
	"bytes"
	"slices"

	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Record rules (ARCHITECTURE.md §5, records):
//   - CreateRecord, AmendRecord, TransferRecord, RevokeRecord: an active
//     ISSUER official whose issuer_record_types name the type, of a
//     department the type lists for that operation.
//   - Content: a type with on_chain_content stores content (at most
//     max_content_bytes, its hash computed, a given hash must match); any
//     other type stores only a 32-byte content_hash and refuses content.
//   - Every change appends a RecordVersion (created, amended, transferred,
//     revoked); versions are never rewritten.
//   - ConsentTransfer: signed by the current holder; TransferRecord consumes
//     it when the type needs consent.
//   - AccessRecord: an AUDITOR, or an ISSUER of the type; when the type says
//     access_needs_consent and the accessor's department is not the issuing
//     one, a live grant by the subject to that department is required.
//   - GrantAccess / RevokeGrant: by the record's subject (the grantor).
//   - Protected types (visibility PROTECTED): who may read their content
//     (ContentEntitlement), the node-recorded releases (RecordAccesses) in
//     access.go; erasing their content (EraseRecordContent) in erase.go.
//     An erased record's content cannot be amended; it can still be
//     transferred and revoked.
//   - A protected version's content_hash is its payload's commitment, and
//     the nodes keep payloads by commitment: a commitment belongs to the
//     first record whose CreateRecord or AmendRecord names it, for good
//     (pcommit/ index, kept after erasure); another record naming it is
//     refused (CONFLICT), at admission too, so no record can be made to
//     release another's content. The record itself may name it again.

func validateRecordAction(body *pb.TxBody) error {
	switch a := body.GetAction().(type) {
	case *pb.TxBody_CreateRecord:
		c := a.CreateRecord
		for _, id := range []struct{ what, v string }{{"record id", c.GetRecordId()}, {"record type", c.GetRecordType()}, {"subject id", c.GetSubjectId()}} {
			if err := checkID(id.what, id.v); err != nil {
				return err
			}
		}
		if c.GetHolderId() != "" {
			if err := checkID("holder id", c.GetHolderId()); err != nil {
				return err
			}
		}
		if err := checkText("content type", c.GetContentType(), MaxNameBytes, false); err != nil {
			return err
		}
		return checkAttributes("metadata", c.GetMetadata())
	case *pb.TxBody_AmendRecord:
		c := a.AmendRecord
		if err := checkID("record id", c.GetRecordId()); err != nil {
			return err
		}
		if c.GetExpectedVersion() == 0 {
			return invalid("expected_version is required (versions start at 1)")
		}
		if err := checkText("reason", c.GetReason(), MaxTextBytes, false); err != nil {
			return err
		}
		return checkAttributes("metadata", c.GetMetadata())
	case *pb.TxBody_ConsentTransfer:
		if err := checkID("record id", a.ConsentTransfer.GetRecordId()); err != nil {
			return err
		}
		return checkID("new holder id", a.ConsentTransfer.GetNewHolderId())
	case *pb.TxBody_TransferRecord:
		if err := checkID("record id", a.TransferRecord.GetRecordId()); err != nil {
			return err
		}
		if err := checkID("new holder id", a.TransferRecord.GetNewHolderId()); err != nil {
			return err
		}
		return checkText("reason", a.TransferRecord.GetReason(), MaxTextBytes, false)
	case *pb.TxBody_RevokeRecord:
		if err := checkID("record id", a.RevokeRecord.GetRecordId()); err != nil {
			return err
		}
		return checkText("reason", a.RevokeRecord.GetReason(), MaxTextBytes, true)
	case *pb.TxBody_AccessRecord:
		if err := checkID("record id", a.AccessRecord.GetRecordId()); err != nil {
			return err
		}
		if err := checkText("purpose", a.AccessRecord.GetPurpose(), MaxTextBytes, true); err != nil {
			return err
		}
		return checkText("legal basis", a.AccessRecord.GetLegalBasis(), MaxTextBytes, false)
	case *pb.TxBody_GrantAccess:
		g := a.GrantAccess
		if err := checkID("grant id", g.GetGrantId()); err != nil {
			return err
		}
		if err := checkID("grantee department", g.GetGranteeDepartmentId()); err != nil {
			return err
		}
		if (g.GetRecordId() == "") == (g.GetRecordType() == "") {
			return invalid("a grant names exactly one of record_id and record_type")
		}
		if g.GetRecordId() != "" {
			if err := checkID("record id", g.GetRecordId()); err != nil {
				return err
			}
		} else if err := checkID("record type", g.GetRecordType()); err != nil {
			return err
		}
		return checkText("purpose", g.GetPurpose(), MaxTextBytes, false)
	case *pb.TxBody_RevokeGrant:
		return checkID("grant id", a.RevokeGrant.GetGrantId())
	case *pb.TxBody_EraseRecordContent:
		return validateErase(a.EraseRecordContent)
	case *pb.TxBody_RecordAccesses:
		return validateRecordAccesses(a.RecordAccesses)
	}
	return nil
}

func recordEvent(r *pb.Record, action, actor, dept string) *pb.RecordEvent {
	return &pb.RecordEvent{
		RecordId: r.GetId(), RecordType: r.GetRecordType(), Action: action, Version: r.GetVersion(),
		SubjectId: r.GetSubjectId(), HolderId: r.GetHolderId(), ActorId: actor, DepartmentId: dept,
	}
}

func (tc *txCtx) emitRecord(ev *pb.RecordEvent) {
	tc.emit(&pb.Event{Kind: &pb.Event_Record{Record: ev}})
}

func (tc *txCtx) loadRecordType(id string) (*pb.RecordType, error) {
	t := &pb.RecordType{}
	ok, err := tc.st.getMsg(kRecordType(id), t)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, notFound("record type %s not found", id)
	}
	return t, nil
}

func (tc *txCtx) loadRecord(id string) (*pb.Record, *pb.RecordType, error) {
	r := &pb.Record{}
	ok, err := tc.st.getMsg(kRecord(id), r)
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		return nil, nil, notFound("record %s not found", id)
	}
	t, err := tc.loadRecordType(r.GetRecordType())
	if err != nil {
		return nil, nil, err
	}
	return r, t, nil
}

func (tc *txCtx) loadVersion(id string, v uint64) (*pb.RecordVersion, error) {
	rv := &pb.RecordVersion{}
	ok, err := tc.st.getMsg(kRecVersion(id, v), rv)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmtInvariant("record %s has no version %d", id, v)
	}
	return rv, nil
}

// requireIssuerFor checks that the signer is an issuer of recType in one of
// depts (the type's list for the operation) and returns its department.
func (tc *txCtx) requireIssuerFor(t *pb.RecordType, depts []string, op string) (*pb.Department, error) {
	dept, err := requireOfficial(tc.st, tc.signer, pb.Role_ROLE_ISSUER)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(tc.signer.GetIssuerRecordTypes(), t.GetId()) {
		return nil, unauthorized("%s is not an issuer of record type %s", tc.actor(), t.GetId())
	}
	if !slices.Contains(depts, dept.GetId()) {
		return nil, unauthorized("record type %s does not let department %s %s records", t.GetId(), dept.GetId(), op)
	}
	return dept, nil
}

// content checks content against the type and returns (content, hash) to
// store.
func content(suite crypto.Suite, t *pb.RecordType, c, hash []byte) ([]byte, []byte, error) {
	if t.GetOnChainContent() {
		if uint64(len(c)) > uint64(t.GetMaxContentBytes()) {
			return nil, nil, fail(pb.ResultCode_RESULT_CODE_TOO_LARGE, "content is %d bytes, record type %s allows %d", len(c), t.GetId(), t.GetMaxContentBytes())
		}
		if len(c) == 0 {
			return nil, nil, invalid("record type %s keeps content on chain; content is empty", t.GetId())
		}
		h := suite.Hash(c)
		if len(hash) != 0 && !bytes.Equal(hash, h) {
			return nil, nil, invalid("content_hash does not match the content")
		}
		return c, h, nil
	}
	if len(c) != 0 {
		return nil, nil, invalid("record type %s keeps only content hashes; content must be empty", t.GetId())
	}
	if err := checkHash("content_hash", hash); err != nil {
		return nil, nil, err
	}
	return nil, hash, nil
}

// precheckContent is CheckTx's check of a CreateRecord's or AmendRecord's
// content against its record type in committed state: content over the
// type's max_content_bytes, content for a type that keeps only hashes, or
// a bad content_hash; and, for a protected type, a content_hash that is
// another record's payload commitment (checkCommitment), so that such a
// tx never reaches a block. Refused in a block instead, a tx with content
// would be committed as failed and its plaintext would stay in the chain
// for good.
// ApplyBlock checks again (content), since the type may change between
// admission and execution. Content naming an unknown type is refused for
// the same reason. An amendment of a record not yet committed (its create
// is still pending) is left to ApplyBlock: its type is not known here.
func precheckContent(suite crypto.Suite, st *overlay, body *pb.TxBody) error {
	var typeID, recordID string
	var c, hash []byte
	switch a := body.GetAction().(type) {
	case *pb.TxBody_CreateRecord:
		typeID, recordID = a.CreateRecord.GetRecordType(), a.CreateRecord.GetRecordId()
		c, hash = a.CreateRecord.GetContent(), a.CreateRecord.GetContentHash()
	case *pb.TxBody_AmendRecord:
		r := &pb.Record{}
		ok, err := st.getMsg(kRecord(a.AmendRecord.GetRecordId()), r)
		if err != nil || !ok {
			return err
		}
		typeID, recordID = r.GetRecordType(), r.GetId()
		c, hash = a.AmendRecord.GetContent(), a.AmendRecord.GetContentHash()
	default:
		return nil
	}
	t := &pb.RecordType{}
	ok, err := st.getMsg(kRecordType(typeID), t)
	if err != nil {
		return err
	}
	if !ok {
		if len(c) == 0 {
			return nil
		}
		return notFound("record type %s not found: its content is refused before it reaches a block", typeID)
	}
	if _, _, err := content(suite, t, c, hash); err != nil {
		return err
	}
	if !IsProtected(t) {
		return nil
	}
	_, err = checkCommitment(st, recordID, hash)
	return err
}

// checkCommitment checks that the payload commitment c, the content_hash
// of a new version of record recordID of a protected type, is not another
// record's (ARCHITECTURE.md §5 "Who can read what"). The nodes keep and
// serve payloads by commitment, and the commitments are public on chain:
// an issuer naming another record's commitment, with an accomplice as
// subject, would have that record's payload released to the accomplice.
// It reports whether c is indexed already (for recordID).
func checkCommitment(st *overlay, recordID string, c []byte) (bool, error) {
	v, ok, err := st.get(kPCommit(c))
	if err != nil || !ok {
		return false, err
	}
	if owner := string(v); owner != recordID {
		return true, conflict("content_hash %x is the commitment of record %s's content: each protected payload belongs to one record", c, owner)
	}
	return true, nil
}

// claimCommitment refuses c if it is another record's commitment and
// indexes it for recordID otherwise. The entry is never deleted, an
// erasure too leaves it: a commitment once used is burnt for good.
func (tc *txCtx) claimCommitment(t *pb.RecordType, recordID string, c []byte) error {
	if !IsProtected(t) {
		return nil
	}
	indexed, err := checkCommitment(tc.st, recordID, c)
	if err != nil || indexed {
		return err
	}
	tc.st.set(kPCommit(c), []byte(recordID))
	return nil
}

func (tc *txCtx) requireLiveIdentity(id, what string) (*pb.Identity, error) {
	idn, err := tc.loadIdentity(id)
	if err != nil {
		return nil, err
	}
	if idn.GetStatus() == pb.IdentityStatus_IDENTITY_STATUS_REVOKED {
		return nil, conflict("%s %s is revoked", what, id)
	}
	return idn, nil
}

func (tc *txCtx) putVersion(r *pb.Record, rv *pb.RecordVersion) error {
	rv.RecordId, rv.Version = r.GetId(), r.GetVersion()
	rv.AuthorId = tc.actor()
	rv.AuthorDepartmentId = tc.signer.GetDepartmentId()
	rv.Height, rv.TimeUnixMs, rv.TxHash = tc.b.height, tc.b.timeMs, tc.txHash
	rv.HolderId = r.GetHolderId()
	r.UpdatedHeight = tc.b.height
	if ok, err := tc.st.has(kRecVersion(r.GetId(), r.GetVersion())); err != nil {
		return err
	} else if ok {
		return fmtInvariant("record %s version %d already stored", r.GetId(), r.GetVersion())
	}
	if err := tc.st.putMsg(kRecVersion(r.GetId(), r.GetVersion()), rv); err != nil {
		return err
	}
	return tc.st.putMsg(kRecord(r.GetId()), r)
}

func (tc *txCtx) createRecord(a *pb.CreateRecord) error {
	t, err := tc.loadRecordType(a.GetRecordType())
	if err != nil {
		return err
	}
	dept, err := tc.requireIssuerFor(t, t.GetCreateDepartments(), "create")
	if err != nil {
		return err
	}
	if ok, err := tc.st.has(kRecord(a.GetRecordId())); err != nil {
		return err
	} else if ok {
		return exists("record %s already exists", a.GetRecordId())
	}
	if _, err := tc.requireLiveIdentity(a.GetSubjectId(), "subject"); err != nil {
		return err
	}
	holder := a.GetHolderId()
	if holder == "" {
		holder = a.GetSubjectId()
	} else if _, err := tc.requireLiveIdentity(holder, "holder"); err != nil {
		return err
	}
	c, h, err := content(tc.e.cfg.Suite, t, a.GetContent(), a.GetContentHash())
	if err != nil {
		return err
	}
	if err := tc.claimCommitment(t, a.GetRecordId(), h); err != nil {
		return err
	}
	r := &pb.Record{
		Id: a.GetRecordId(), RecordType: t.GetId(), SubjectId: a.GetSubjectId(), HolderId: holder,
		IssuerDepartmentId: dept.GetId(), Version: 1, Status: pb.RecordStatus_RECORD_STATUS_ACTIVE,
		CreatedHeight: tc.b.height,
	}
	if err := tc.putVersion(r, &pb.RecordVersion{
		Content: c, ContentHash: h, ContentType: a.GetContentType(), Metadata: a.GetMetadata(), Action: "created",
	}); err != nil {
		return err
	}
	tc.emitRecord(recordEvent(r, "created", tc.actor(), dept.GetId()))
	return nil
}

func (tc *txCtx) amendRecord(a *pb.AmendRecord) error {
	r, t, err := tc.loadRecord(a.GetRecordId())
	if err != nil {
		return err
	}
	dept, err := tc.requireIssuerFor(t, t.GetAmendDepartments(), "amend")
	if err != nil {
		return err
	}
	if r.GetStatus() != pb.RecordStatus_RECORD_STATUS_ACTIVE {
		return conflict("record %s is revoked", r.GetId())
	}
	if r.GetErasedHeight() != 0 {
		return conflict("content of record %s was erased at height %d: it cannot be amended", r.GetId(), r.GetErasedHeight())
	}
	if a.GetExpectedVersion() != r.GetVersion() {
		return conflict("record %s is at version %d, amendment expects %d", r.GetId(), r.GetVersion(), a.GetExpectedVersion())
	}
	c, h, err := content(tc.e.cfg.Suite, t, a.GetContent(), a.GetContentHash())
	if err != nil {
		return err
	}
	if err := tc.claimCommitment(t, r.GetId(), h); err != nil {
		return err
	}
	prev, err := tc.loadVersion(r.GetId(), r.GetVersion())
	if err != nil {
		return err
	}
	meta := a.GetMetadata()
	if len(meta) == 0 {
		meta = prev.GetMetadata()
	}
	r.Version++
	if err := tc.putVersion(r, &pb.RecordVersion{
		Content: c, ContentHash: h, ContentType: prev.GetContentType(), Metadata: meta, Reason: a.GetReason(), Action: "amended",
	}); err != nil {
		return err
	}
	tc.emitRecord(recordEvent(r, "amended", tc.actor(), dept.GetId()))
	return nil
}

func (tc *txCtx) consentTransfer(a *pb.ConsentTransfer) error {
	r, t, err := tc.loadRecord(a.GetRecordId())
	if err != nil {
		return err
	}
	if !t.GetTransferable() {
		return invalid("records of type %s are not transferable", t.GetId())
	}
	if r.GetHolderId() != tc.actor() {
		return unauthorized("only the holder of record %s may consent to its transfer", r.GetId())
	}
	if r.GetStatus() != pb.RecordStatus_RECORD_STATUS_ACTIVE {
		return conflict("record %s is revoked", r.GetId())
	}
	if a.GetNewHolderId() == r.GetHolderId() {
		return invalid("the new holder is the current holder")
	}
	if _, err := tc.requireLiveIdentity(a.GetNewHolderId(), "new holder"); err != nil {
		return err
	}
	if a.GetValidUntil() <= tc.nowSec() {
		return invalid("valid_until %d is not after the block time %d", a.GetValidUntil(), tc.nowSec())
	}
	c := &pb.TransferConsent{RecordId: r.GetId(), HolderId: r.GetHolderId(), NewHolderId: a.GetNewHolderId(), ValidUntil: a.GetValidUntil(), Height: tc.b.height}
	if err := tc.st.putMsg(kConsent(r.GetId()), c); err != nil {
		return err
	}
	ev := recordEvent(r, "transfer_consented", tc.actor(), "")
	ev.HolderId = a.GetNewHolderId()
	tc.emitRecord(ev)
	return nil
}

func (tc *txCtx) transferRecord(a *pb.TransferRecord) error {
	r, t, err := tc.loadRecord(a.GetRecordId())
	if err != nil {
		return err
	}
	if !t.GetTransferable() {
		return invalid("records of type %s are not transferable", t.GetId())
	}
	dept, err := tc.requireIssuerFor(t, t.GetTransferDepartments(), "transfer")
	if err != nil {
		return err
	}
	if r.GetStatus() != pb.RecordStatus_RECORD_STATUS_ACTIVE {
		return conflict("record %s is revoked", r.GetId())
	}
	if a.GetNewHolderId() == r.GetHolderId() {
		return invalid("the new holder is the current holder")
	}
	if _, err := tc.requireLiveIdentity(a.GetNewHolderId(), "new holder"); err != nil {
		return err
	}
	if t.GetTransferNeedsConsent() {
		c := &pb.TransferConsent{}
		ok, err := tc.st.getMsg(kConsent(r.GetId()), c)
		if err != nil {
			return err
		}
		switch {
		case !ok:
			return fail(pb.ResultCode_RESULT_CODE_CONSENT_REQUIRED, "holder %s has not consented to a transfer of %s", r.GetHolderId(), r.GetId())
		case c.GetHolderId() != r.GetHolderId() || c.GetNewHolderId() != a.GetNewHolderId():
			return fail(pb.ResultCode_RESULT_CODE_CONSENT_REQUIRED, "the consent on %s is for a transfer from %s to %s", r.GetId(), c.GetHolderId(), c.GetNewHolderId())
		case c.GetValidUntil() < tc.nowSec():
			return fail(pb.ResultCode_RESULT_CODE_CONSENT_REQUIRED, "the consent on %s expired at %d", r.GetId(), c.GetValidUntil())
		}
	}
	tc.st.del(kConsent(r.GetId()))
	prev, err := tc.loadVersion(r.GetId(), r.GetVersion())
	if err != nil {
		return err
	}
	r.HolderId = a.GetNewHolderId()
	r.Version++
	if err := tc.putVersion(r, &pb.RecordVersion{
		Content: prev.GetContent(), ContentHash: prev.GetContentHash(), ContentType: prev.GetContentType(),
		Metadata: prev.GetMetadata(), Reason: a.GetReason(), Action: "transferred",
	}); err != nil {
		return err
	}
	tc.emitRecord(recordEvent(r, "transferred", tc.actor(), dept.GetId()))
	return nil
}

func (tc *txCtx) revokeRecord(a *pb.RevokeRecord) error {
	r, t, err := tc.loadRecord(a.GetRecordId())
	if err != nil {
		return err
	}
	dept, err := tc.requireIssuerFor(t, t.GetRevokeDepartments(), "revoke")
	if err != nil {
		return err
	}
	if r.GetStatus() != pb.RecordStatus_RECORD_STATUS_ACTIVE {
		return conflict("record %s is already revoked", r.GetId())
	}
	prev, err := tc.loadVersion(r.GetId(), r.GetVersion())
	if err != nil {
		return err
	}
	tc.st.del(kConsent(r.GetId()))
	r.Status, r.RevokeReason = pb.RecordStatus_RECORD_STATUS_REVOKED, a.GetReason()
	r.Version++
	if err := tc.putVersion(r, &pb.RecordVersion{
		Content: prev.GetContent(), ContentHash: prev.GetContentHash(), ContentType: prev.GetContentType(),
		Metadata: prev.GetMetadata(), Reason: a.GetReason(), Action: "revoked",
	}); err != nil {
		return err
	}
	tc.emitRecord(recordEvent(r, "revoked", tc.actor(), dept.GetId()))
	return nil
}

func (tc *txCtx) accessRecord(a *pb.AccessRecord) error {
	r, t, err := tc.loadRecord(a.GetRecordId())
	if err != nil {
		return err
	}
	dept, err := requireOfficial(tc.st, tc.signer, pb.Role_ROLE_AUDITOR, pb.Role_ROLE_ISSUER)
	if err != nil {
		return err
	}
	if !slices.Contains(tc.signer.GetRoles(), pb.Role_ROLE_AUDITOR) && !slices.Contains(tc.signer.GetIssuerRecordTypes(), t.GetId()) {
		return unauthorized("%s is neither an auditor nor an issuer of record type %s", tc.actor(), t.GetId())
	}
	var grantID string
	if t.GetAccessNeedsConsent() && dept.GetId() != r.GetIssuerDepartmentId() {
		g, _, err := findGrant(tc.st, r, dept.GetId(), tc.nowSec())
		if err != nil {
			return err
		}
		if g == nil {
			return fail(pb.ResultCode_RESULT_CODE_CONSENT_REQUIRED, "record type %s needs the subject's consent: %s has no live grant from %s for record %s", t.GetId(), dept.GetId(), r.GetSubjectId(), r.GetId())
		}
		grantID = g.GetId()
	}
	return tc.appendAccess(r, &pb.AccessEntry{
		AccessorId: tc.actor(), DepartmentId: dept.GetId(), Purpose: a.GetPurpose(), LegalBasis: a.GetLegalBasis(), GrantId: grantID,
	})
}

// appendAccess appends e (accessor, department, purpose, legal basis,
// grant, and for a node-recorded release recorded_by and channel) to
// record r's access log: the next seq, this tx's height, time and hash,
// the subject index; and emits the RecordEvent "accessed" (actor the
// accessor, department the accessor's). AccessRecord and RecordAccesses
// both log through it.
func (tc *txCtx) appendAccess(r *pb.Record, e *pb.AccessEntry) error {
	v, ok, err := tc.st.get(kAccessN(r.GetId()))
	if err != nil {
		return err
	}
	var seq uint64
	if ok {
		if seq, err = decodeU64(kAccessN(r.GetId()), v); err != nil {
			return err
		}
	}
	seq++
	e.RecordId, e.Seq = r.GetId(), seq
	e.Height, e.TimeUnixMs, e.TxHash = tc.b.height, tc.b.timeMs, tc.txHash
	if err := tc.st.putMsg(kAccess(r.GetId(), seq), e); err != nil {
		return err
	}
	tc.st.set(kAccessN(r.GetId()), encodeU64(seq))
	tc.st.set(kAccessSubj(r.GetSubjectId(), r.GetId(), seq), marker)
	ev := recordEvent(r, "accessed", e.GetAccessorId(), e.GetDepartmentId())
	ev.Purpose = e.GetPurpose()
	tc.emitRecord(ev)
	return nil
}

// findGrant returns a live grant (not revoked, valid_until >= nowSec) by
// the record's subject to dept covering the record or its type, or nil;
// and, when there is none, the covering grant that expired last, for a
// refusal's reason (nil if none). Grants are scanned in key order, so the
// same grant is chosen everywhere. A revoked grant has left the index
// (revokeGrant), so it is never found here.
func findGrant(st *overlay, r *pb.Record, dept string, nowSec int64) (live, expired *pb.Grant, err error) {
	keys, err := st.keysWithPrefix(prefixGrantBy + r.GetSubjectId() + "/" + dept + "/")
	if err != nil {
		return nil, nil, err
	}
	for _, k := range keys {
		g := &pb.Grant{}
		ok, err := st.getMsg(kGrant(lastSegment(k)), g)
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			return nil, nil, fmtInvariant("grant index %q without grant", k)
		}
		if g.GetRevoked() || !(g.GetRecordId() == r.GetId() || g.GetRecordType() == r.GetRecordType() && g.GetRecordId() == "") {
			continue
		}
		if g.GetValidUntil() < nowSec {
			if expired == nil || g.GetValidUntil() > expired.GetValidUntil() {
				expired = g
			}
			continue
		}
		return g, nil, nil
	}
	return nil, expired, nil
}

func grantEvent(g *pb.Grant, action string) *pb.Event {
	return &pb.Event{Kind: &pb.Event_Grant{Grant: &pb.GrantEvent{
		GrantId: g.GetId(), GrantorId: g.GetGrantorId(), GranteeDepartmentId: g.GetGranteeDepartmentId(), Action: action,
	}}}
}

func (tc *txCtx) grantAccess(a *pb.GrantAccess) error {
	if ok, err := tc.st.has(kGrant(a.GetGrantId())); err != nil {
		return err
	} else if ok {
		return exists("grant %s already exists", a.GetGrantId())
	}
	if ok, err := tc.isMember(a.GetGranteeDepartmentId()); err != nil {
		return err
	} else if !ok {
		return notFound("department %s is not a member", a.GetGranteeDepartmentId())
	}
	if a.GetRecordId() != "" {
		r, _, err := tc.loadRecord(a.GetRecordId())
		if err != nil {
			return err
		}
		if r.GetSubjectId() != tc.actor() {
			return unauthorized("only the subject of record %s may grant access to it", r.GetId())
		}
	} else if _, err := tc.loadRecordType(a.GetRecordType()); err != nil {
		return err
	}
	if a.GetValidUntil() <= tc.nowSec() {
		return invalid("valid_until %d is not after the block time %d", a.GetValidUntil(), tc.nowSec())
	}
	g := &pb.Grant{
		Id: a.GetGrantId(), GrantorId: tc.actor(), GranteeDepartmentId: a.GetGranteeDepartmentId(), RecordId: a.GetRecordId(),
		RecordType: a.GetRecordType(), Purpose: a.GetPurpose(), ValidUntil: a.GetValidUntil(), Height: tc.b.height,
	}
	if err := tc.st.putMsg(kGrant(g.GetId()), g); err != nil {
		return err
	}
	tc.st.set(kGrantBy(g.GetGrantorId(), g.GetGranteeDepartmentId(), g.GetId()), marker)
	tc.emit(grantEvent(g, "granted"))
	return nil
}

func (tc *txCtx) revokeGrant(a *pb.RevokeGrant) error {
	g := &pb.Grant{}
	ok, err := tc.st.getMsg(kGrant(a.GetGrantId()), g)
	if err != nil {
		return err
	}
	if !ok {
		return notFound("grant %s not found", a.GetGrantId())
	}
	if g.GetGrantorId() != tc.actor() {
		return unauthorized("only the grantor %s may revoke grant %s", g.GetGrantorId(), g.GetId())
	}
	if g.GetRevoked() {
		return conflict("grant %s is already revoked", g.GetId())
	}
	g.Revoked = true
	if err := tc.st.putMsg(kGrant(g.GetId()), g); err != nil {
		return err
	}
	tc.st.del(kGrantBy(g.GetGrantorId(), g.GetGranteeDepartmentId(), g.GetId()))
	tc.emit(grantEvent(g, "revoked"))
	return nil
}
