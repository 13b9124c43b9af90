package exec

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
)

// State key layout. Every key is ASCII; ids never contain '/' (checkID), so
// a prefix ending in '/' selects exactly one object's entries. Numbers are
// zero-padded decimal (%020d) so byte order is numeric order. Values are
// deterministic protobuf encodings (proto.MarshalOptions{Deterministic:
// true}) unless the table says otherwise.
//
//	key                                         value
//	params                                      Params
//	valset/<effective_height>                   ValidatorSet (every set ever decided; the last is current or pending)
//	dept/<department>                           Department (members only; deleted on removal)
//	deptrm/<department>                         0x01 (a removed department's id, never reused)
//	id/<identity>                               Identity
//	nonce/<identity>                            8-byte big-endian last used nonce (absent: 0, next is 1)
//	cred/<credential>                           Credential
//	credsubj/<subject>/<credential>             0x01 (index: credentials of a subject)
//	rtype/<record_type>                         RecordType
//	rec/<record>                                Record (current view)
//	recv/<record>/<version>                     RecordVersion (append-only)
//	pcommit/<hex commitment>                    record id, raw (index: the record a protected type's
//	                                            content_hash belongs to; never deleted, erasure too)
//	consent/<record>                            TransferConsent (the holder's pending consent; deleted when used)
//	acc/<record>/<seq>                          AccessEntry (seq from 1)
//	accn/<record>                               8-byte big-endian last access seq
//	accsubj/<subject>/<record>/<seq>            0x01 (index: accesses to a subject's records)
//	grant/<grant>                               Grant
//	grantby/<grantor>/<department>/<grant>      0x01 (index: grants of a subject to a department)
//	tmpl/<template>                             ContractTemplate
//	ctr/<contract>                              Contract
//	tender/<tender>                             Tender (its bids inside)
//	budget/<department>                         Budget (absent until first funded)
//	account/<identity>                          Account (absent until first paid)
//	dl/<unix_s>/<contract>/<generation>/<i>     Deadline{state, at: decimal unix seconds, transition}
//	                                            (i = index in the template's deadlines; generation =
//	                                            len(history) when scheduled; stale entries are skipped)
//	prop/<proposal>                             GovProposal
//	propopen/<voting_end_height>/<proposal>     0x01 (index: proposals still voting)
//	evid/<department>/<view>/<height>           EquivocationEvidence (dedupe key)
//	observer/<peer_id>                          Observer (nodes governance admits to follow the chain)
//	upgrade/plan                                UpgradePlan (the decided upgrade not applied yet; upgrade.go)
//	upgrade/done/<name>                         UpgradePlan (applied, with applied_height)
const (
	keyParams        = "params"
	prefixValset     = "valset/"
	prefixDept       = "dept/"
	prefixDeptRm     = "deptrm/"
	prefixIdentity   = "id/"
	prefixNonce      = "nonce/"
	prefixCred       = "cred/"
	prefixCredSubj   = "credsubj/"
	prefixRecordType = "rtype/"
	prefixRecord     = "rec/"
	prefixRecVersion = "recv/"
	prefixPCommit    = "pcommit/"
	prefixConsent    = "consent/"
	prefixAccess     = "acc/"
	prefixAccessN    = "accn/"
	prefixAccessSubj = "accsubj/"
	prefixGrant      = "grant/"
	prefixGrantBy    = "grantby/"
	prefixTemplate   = "tmpl/"
	prefixContract   = "ctr/"
	prefixTender     = "tender/"
	prefixBudget     = "budget/"
	prefixAccount    = "account/"
	prefixDeadline   = "dl/"
	prefixProposal   = "prop/"
	prefixPropOpen   = "propopen/"
	prefixEvidence   = "evid/"
	prefixObserver   = "observer/"
)

// marker is the value of pure index keys.
var marker = []byte{1}

func num(n uint64) string { return fmt.Sprintf("%020d", n) }

func kValset(eff uint64) string              { return prefixValset + num(eff) }
func kDept(id string) string                 { return prefixDept + id }
func kDeptRm(id string) string               { return prefixDeptRm + id }
func kIdentity(id string) string             { return prefixIdentity + id }
func kNonce(id string) string                { return prefixNonce + id }
func kCred(id string) string                 { return prefixCred + id }
func kCredSubj(subj, id string) string       { return prefixCredSubj + subj + "/" + id }
func kRecordType(id string) string           { return prefixRecordType + id }
func kRecord(id string) string               { return prefixRecord + id }
func kRecVersion(id string, v uint64) string { return prefixRecVersion + id + "/" + num(v) }
func kPCommit(c []byte) string               { return prefixPCommit + hex.EncodeToString(c) }
func kConsent(id string) string              { return prefixConsent + id }
func kAccess(rec string, seq uint64) string  { return prefixAccess + rec + "/" + num(seq) }
func kAccessN(rec string) string             { return prefixAccessN + rec }
func kAccessSubj(subj, rec string, seq uint64) string {
	return prefixAccessSubj + subj + "/" + rec + "/" + num(seq)
}
func kGrant(id string) string { return prefixGrant + id }
func kGrantBy(grantor, dept, id string) string {
	return prefixGrantBy + grantor + "/" + dept + "/" + id
}
func kTemplate(id string) string { return prefixTemplate + id }
func kContract(id string) string { return prefixContract + id }
func kTender(id string) string   { return prefixTender + id }
func kBudget(dept string) string { return prefixBudget + dept }
func kAccount(id string) string  { return prefixAccount + id }
func kDeadline(at uint64, contract string, gen uint64, i int) string {
	return prefixDeadline + num(at) + "/" + contract + "/" + num(gen) + "/" + fmt.Sprintf("%04d", i)
}
func kProposal(id string) string             { return prefixProposal + id }
func kPropOpen(end uint64, id string) string { return prefixPropOpen + num(end) + "/" + id }
func kEvidence(dept string, view, height uint64) string {
	return prefixEvidence + dept + "/" + num(view) + "/" + num(height)
}

func kObserver(peerID string) string { return prefixObserver + peerID }

// prefixEnd returns the smallest key above every key starting with p.
func prefixEnd(p string) string {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1])
		}
	}
	return "" // unreachable for our ASCII prefixes
}

func encodeU64(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

func decodeU64(key string, b []byte) (uint64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("state %q: counter is %d bytes, want 8", key, len(b))
	}
	return binary.BigEndian.Uint64(b), nil
}

// Exported key functions, for the API to ask the state tree for a proof of
// an object's key.

// ParamsKey is the key of the chain Params.
func ParamsKey() []byte { return []byte(keyParams) }

// ValidatorSetKey is the key of the validator set effective from height eff.
func ValidatorSetKey(eff uint64) []byte { return []byte(kValset(eff)) }

// DepartmentKey is the key of a member department.
func DepartmentKey(id string) []byte { return []byte(kDept(id)) }

// IdentityKey is the key of an identity.
func IdentityKey(id string) []byte { return []byte(kIdentity(id)) }

// NonceKey is the key of a signer's last used nonce.
func NonceKey(signer string) []byte { return []byte(kNonce(signer)) }

// CredentialKey is the key of a credential.
func CredentialKey(id string) []byte { return []byte(kCred(id)) }

// RecordTypeKey is the key of a record type.
func RecordTypeKey(id string) []byte { return []byte(kRecordType(id)) }

// RecordKey is the key of a record's current view.
func RecordKey(id string) []byte { return []byte(kRecord(id)) }

// RecordVersionKey is the key of one version of a record. A non-inclusion
// proof of RecordVersionKey(id, v+1) proves v is the latest version.
func RecordVersionKey(id string, version uint64) []byte { return []byte(kRecVersion(id, version)) }

// ProtectedCommitmentKey is the key of the index entry naming the record
// whose protected content has the payload commitment c (its value is the
// record id).
func ProtectedCommitmentKey(c []byte) []byte { return []byte(kPCommit(c)) }

// AccessEntryKey is the key of one access-log entry of a record.
func AccessEntryKey(recordID string, seq uint64) []byte { return []byte(kAccess(recordID, seq)) }

// GrantKey is the key of a grant.
func GrantKey(id string) []byte { return []byte(kGrant(id)) }

// TransferConsentKey is the key of a record's pending transfer consent.
func TransferConsentKey(recordID string) []byte { return []byte(kConsent(recordID)) }

// TemplateKey is the key of a contract template.
func TemplateKey(id string) []byte { return []byte(kTemplate(id)) }

// ContractKey is the key of a contract.
func ContractKey(id string) []byte { return []byte(kContract(id)) }

// TenderKey is the key of a tender: its bids (their terms once revealed)
// and its award.
func TenderKey(id string) []byte { return []byte(kTender(id)) }

// BudgetKey is the key of a department's budget.
func BudgetKey(departmentID string) []byte { return []byte(kBudget(departmentID)) }

// AccountKey is the key of an identity's payment account.
func AccountKey(identityID string) []byte { return []byte(kAccount(identityID)) }

// ProposalKey is the key of a governance proposal.
func ProposalKey(id string) []byte { return []byte(kProposal(id)) }

// EvidenceKey is the key of recorded equivocation evidence.
func EvidenceKey(departmentID string, view, height uint64) []byte {
	return []byte(kEvidence(departmentID, view, height))
}

// SparsePrefixes are the key prefixes every block reads by range although
// they are empty in most blocks (deadlines due, proposals whose vote ends):
// the block executor remembers which of them committed state leaves empty,
// so that a block skips the store's iterator for them
// (blockexec's applyReader).
func SparsePrefixes() []string { return []string{prefixDeadline, prefixPropOpen} }

// DeadlinePrefix is the prefix of the deadline index (NextDeadline reads
// nothing else).
func DeadlinePrefix() string { return prefixDeadline }
