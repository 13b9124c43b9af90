package lightclient

import (
	"encoding/hex"
	"strings"

	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Report is what VerifyBundle established, the same for `govnode verify
// --output json` and the portal, which renders this JSON: keep the field
// names. When OK is false, Record, Versions and Access hold only what
// verified (Record is nil unless the record itself verified), and Failures
// names every part that did not.
type Report struct {
	OK bool `json:"ok"`
	// ChainID and GenesisHash (hex) are the chain's, from the genesis the
	// bundle carries and that hashed to the trusted genesis hash.
	ChainID     string `json:"chain_id"`
	GenesisHash string `json:"genesis_hash"`
	// Record is the record at Height, the state height it is proven at;
	// both are zero unless the record verified (a bundle's height is only
	// its claim until then).
	Record *RecordReport `json:"record"`
	Height uint64        `json:"height"`
	// Versions are versions 1..Record.Version, oldest first.
	Versions []VersionReport `json:"versions"`
	// Access are the access-log entries 1..count at Height, in order.
	Access []AccessReport `json:"access"`
	// Validators is the set that certifies the header the record is proven
	// against.
	Validators ValidatorsReport `json:"validators"`
	Failures   []Failure        `json:"failures"`
}

// RecordReport is a verified record's public view.
type RecordReport struct {
	ID                 string `json:"id"`
	RecordType         string `json:"record_type"`
	SubjectID          string `json:"subject_id"`
	HolderID           string `json:"holder_id"`
	IssuerDepartmentID string `json:"issuer_department_id"`
	// Status is "active", "revoked", ... (RecordStatus without its prefix,
	// lower case).
	Status       string `json:"status"`
	Version      uint64 `json:"version"`
	ErasedHeight uint64 `json:"erased_height"`
}

// VersionReport is one verified version.
type VersionReport struct {
	Version            uint64 `json:"version"`
	Action             string `json:"action"`
	AuthorID           string `json:"author_id"`
	AuthorDepartmentID string `json:"author_department_id"`
	TimeUnixMs         int64  `json:"time_unix_ms"`
	// Height is the height that wrote the version.
	Height      uint64 `json:"height"`
	TxHash      string `json:"tx_hash"`
	ContentHash string `json:"content_hash"`
	ContentType string `json:"content_type"`
	// Content is the content as the state holds it (base64 in JSON): only
	// a public type's; a protected version holds its content hash alone.
	Content  []byte `json:"content,omitempty"`
	Reason   string `json:"reason"`
	HolderID string `json:"holder_id"`
	// ProvenHeight is the state height of the header the version is
	// proven against: Height, or the first attested state above it when
	// no committed header attests Height itself (ARCHITECTURE.md §6,
	// "Proof bundles").
	ProvenHeight uint64 `json:"proven_height"`
}

// AccessReport is one verified access-log entry.
type AccessReport struct {
	Seq          uint64 `json:"seq"`
	AccessorID   string `json:"accessor_id"`
	DepartmentID string `json:"department_id"`
	Purpose      string `json:"purpose"`
	LegalBasis   string `json:"legal_basis"`
	GrantID      string `json:"grant_id"`
	RecordedBy   string `json:"recorded_by"`
	Channel      string `json:"channel"`
	TimeUnixMs   int64  `json:"time_unix_ms"`
	Height       uint64 `json:"height"`
	TxHash       string `json:"tx_hash"`
}

// ValidatorsReport is the validator set the record's header was checked
// against: in force at block Height, reached from the genesis set through
// SetsFollowed proven set changes.
type ValidatorsReport struct {
	Height       uint64   `json:"height"`
	Keys         []string `json:"keys"`
	SetsFollowed int      `json:"sets_followed"`
}

// Failure is one thing that did not verify: Part names the part of the
// bundle ("bundle", "genesis", "anchors[3]", "validator_sets[0]",
// "record", "versions[2]", "access_count", "access_entries[0]"), Reason
// says what is wrong with it.
type Failure struct {
	Part   string `json:"part"`
	Reason string `json:"reason"`
}

func recordReport(r *pb.Record) *RecordReport {
	return &RecordReport{
		ID: r.GetId(), RecordType: r.GetRecordType(), SubjectID: r.GetSubjectId(), HolderID: r.GetHolderId(),
		IssuerDepartmentID: r.GetIssuerDepartmentId(), Status: statusName(r.GetStatus()), Version: r.GetVersion(),
		ErasedHeight: r.GetErasedHeight(),
	}
}

func statusName(s pb.RecordStatus) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "RECORD_STATUS_"))
}

func versionReport(v *pb.RecordVersion, provenAt uint64) VersionReport {
	return VersionReport{
		Version: v.GetVersion(), Action: v.GetAction(), AuthorID: v.GetAuthorId(), AuthorDepartmentID: v.GetAuthorDepartmentId(),
		TimeUnixMs: v.GetTimeUnixMs(), Height: v.GetHeight(), TxHash: hex.EncodeToString(v.GetTxHash()),
		ContentHash: hex.EncodeToString(v.GetContentHash()), ContentType: v.GetContentType(), Content: v.GetContent(),
		Reason: v.GetReason(), HolderID: v.GetHolderId(), ProvenHeight: provenAt,
	}
}

func accessReport(e *pb.AccessEntry) AccessReport {
	return AccessReport{
		Seq: e.GetSeq(), AccessorID: e.GetAccessorId(), DepartmentID: e.GetDepartmentId(), Purpose: e.GetPurpose(),
		LegalBasis: e.GetLegalBasis(), GrantID: e.GetGrantId(), RecordedBy: e.GetRecordedBy(), Channel: e.GetChannel(),
		TimeUnixMs: e.GetTimeUnixMs(), Height: e.GetHeight(), TxHash: hex.EncodeToString(e.GetTxHash()),
	}
}
