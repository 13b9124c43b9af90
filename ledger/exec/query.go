package exec

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Query helpers read committed state for the API. Absent objects give an
// error wrapping ErrNotFound; other errors are storage failures or
// undecodable values. Each object's key comes from the matching *Key
// function, for the API to ask the state tree for a proof.

func queryMsg[T proto.Message](r Reader, key string, m T) (T, error) {
	ok, err := newOverlay(readerKV{r}).getMsg(key, m)
	if err != nil {
		return m, err
	}
	if !ok {
		var zero T
		return zero, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	return m, nil
}

// Identity returns an identity.
func Identity(r Reader, id string) (*pb.Identity, error) {
	return queryMsg(r, kIdentity(id), &pb.Identity{})
}

// Department returns a member department.
func Department(r Reader, id string) (*pb.Department, error) {
	return queryMsg(r, kDept(id), &pb.Department{})
}

// Credential returns a credential.
func Credential(r Reader, id string) (*pb.Credential, error) {
	return queryMsg(r, kCred(id), &pb.Credential{})
}

// Credentials returns the credentials issued to subject, by id.
func Credentials(r Reader, subject string) ([]*pb.Credential, error) {
	st := newOverlay(readerKV{r})
	keys, err := st.keysWithPrefix(prefixCredSubj + subject + "/")
	if err != nil {
		return nil, err
	}
	out := make([]*pb.Credential, 0, len(keys))
	for _, k := range keys {
		c, err := Credential(r, lastSegment(k))
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// RecordType returns a record type.
func RecordType(r Reader, id string) (*pb.RecordType, error) {
	return queryMsg(r, kRecordType(id), &pb.RecordType{})
}

// Record returns a record's current view.
func Record(r Reader, id string) (*pb.Record, error) {
	return queryMsg(r, kRecord(id), &pb.Record{})
}

// RecordVersion returns one version of a record.
func RecordVersion(r Reader, id string, version uint64) (*pb.RecordVersion, error) {
	return queryMsg(r, kRecVersion(id, version), &pb.RecordVersion{})
}

// ProtectedCommitmentRecord returns the id of the record of a protected
// type whose content has the payload commitment c (ProtectedCommitmentKey),
// erased or not; ErrNotFound when no record has named it.
func ProtectedCommitmentRecord(r Reader, c []byte) (string, error) {
	key := kPCommit(c)
	v, ok, err := newOverlay(readerKV{r}).get(key)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	return string(v), nil
}

// RecordVersions returns every version of a record, oldest first.
func RecordVersions(r Reader, id string) ([]*pb.RecordVersion, error) {
	var out []*pb.RecordVersion
	err := newOverlay(readerKV{r}).iterate(prefixRecVersion+id+"/", prefixEnd(prefixRecVersion+id+"/"), func(k string, v []byte) error {
		rv := &pb.RecordVersion{}
		if err := proto.Unmarshal(v, rv); err != nil {
			return fmt.Errorf("decode %q: %w", k, err)
		}
		out = append(out, rv)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: record %s", ErrNotFound, id)
	}
	return out, nil
}

var errLimit = errors.New("limit reached")

// AccessLog returns the accesses to a record, oldest first, at most limit
// (0: all).
func AccessLog(r Reader, recordID string, limit uint32) ([]*pb.AccessEntry, error) {
	var out []*pb.AccessEntry
	p := prefixAccess + recordID + "/"
	err := newOverlay(readerKV{r}).iterate(p, prefixEnd(p), func(k string, v []byte) error {
		e := &pb.AccessEntry{}
		if err := proto.Unmarshal(v, e); err != nil {
			return fmt.Errorf("decode %q: %w", k, err)
		}
		out = append(out, e)
		if limit > 0 && len(out) >= int(limit) {
			return errLimit
		}
		return nil
	})
	if err != nil && !errors.Is(err, errLimit) {
		return nil, err
	}
	return out, nil
}

// AccessLogPage is one page of an access log: the entries after the
// entry (afterRecord, afterSeq) of the previous page ("" and 0: from the
// first), at most limit (> 0), in key order, and whether more follow. A
// record's log (recordID) is in sequence order; a subject's (subjectID,
// recordID empty) by record id, then sequence.
func AccessLogPage(r Reader, recordID, subjectID, afterRecord string, afterSeq uint64, limit uint32) ([]*pb.AccessEntry, bool, error) {
	if limit == 0 {
		return nil, false, errors.New("exec: AccessLogPage needs a limit")
	}
	var prefix, start string
	if recordID != "" {
		prefix = prefixAccess + recordID + "/"
		start = prefix
		if afterRecord != "" {
			start = kAccess(recordID, afterSeq) + "\x00"
		}
	} else {
		prefix = prefixAccessSubj + subjectID + "/"
		start = prefix
		if afterRecord != "" {
			start = kAccessSubj(subjectID, afterRecord, afterSeq) + "\x00"
		}
	}
	var out []*pb.AccessEntry
	more := false
	err := newOverlay(readerKV{r}).iterate(start, prefixEnd(prefix), func(k string, v []byte) error {
		if len(out) >= int(limit) {
			more = true
			return errLimit
		}
		if recordID != "" {
			e := &pb.AccessEntry{}
			if err := proto.Unmarshal(v, e); err != nil {
				return fmt.Errorf("decode %q: %w", k, err)
			}
			out = append(out, e)
			return nil
		}
		// accsubj/<subject>/<record>/<seq>
		parts := strings.Split(k[len(prefixAccessSubj):], "/")
		if len(parts) != 3 {
			return fmt.Errorf("access index %q: malformed", k)
		}
		seq, err := strconv.ParseUint(parts[2], 10, 64)
		if err != nil {
			return fmt.Errorf("access index %q: %w", k, err)
		}
		e, err := queryMsg(r, kAccess(parts[1], seq), &pb.AccessEntry{})
		if err != nil {
			return err
		}
		out = append(out, e)
		return nil
	})
	if err != nil && !errors.Is(err, errLimit) {
		return nil, false, err
	}
	return out, more, nil
}

// AccessLogBySubject returns the accesses to every record whose subject is
// subjectID, ordered by record id then sequence, at most limit (0: all).
func AccessLogBySubject(r Reader, subjectID string, limit uint32) ([]*pb.AccessEntry, error) {
	st := newOverlay(readerKV{r})
	keys, err := st.keysWithPrefix(prefixAccessSubj + subjectID + "/")
	if err != nil {
		return nil, err
	}
	var out []*pb.AccessEntry
	for _, k := range keys {
		// accsubj/<subject>/<record>/<seq>
		parts := strings.Split(k[len(prefixAccessSubj):], "/")
		if len(parts) != 3 {
			return nil, fmt.Errorf("access index %q: malformed", k)
		}
		rec := parts[1]
		seq, err := strconv.ParseUint(parts[2], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("access index %q: %w", k, err)
		}
		e, err := queryMsg(r, kAccess(rec, seq), &pb.AccessEntry{})
		if err != nil {
			return nil, err
		}
		out = append(out, e)
		if limit > 0 && len(out) >= int(limit) {
			break
		}
	}
	return out, nil
}

// Grant returns a grant.
func Grant(r Reader, id string) (*pb.Grant, error) { return queryMsg(r, kGrant(id), &pb.Grant{}) }

// TransferConsent returns a record's pending transfer consent.
func TransferConsent(r Reader, recordID string) (*pb.TransferConsent, error) {
	return queryMsg(r, kConsent(recordID), &pb.TransferConsent{})
}

// Template returns a contract template.
func Template(r Reader, id string) (*pb.ContractTemplate, error) {
	return queryMsg(r, kTemplate(id), &pb.ContractTemplate{})
}

// Contract returns a contract.
func Contract(r Reader, id string) (*pb.Contract, error) {
	return queryMsg(r, kContract(id), &pb.Contract{})
}

// Tender returns a tender, its bids (their terms once revealed) and its
// award.
func Tender(r Reader, id string) (*pb.Tender, error) {
	return queryMsg(r, kTender(id), &pb.Tender{})
}

// Budget returns a department's budget (BudgetKey); ErrNotFound for a
// department never funded, whose balance is 0.
func Budget(r Reader, departmentID string) (*pb.Budget, error) {
	return queryMsg(r, kBudget(departmentID), &pb.Budget{})
}

// Account returns an identity's payment account (AccountKey); ErrNotFound
// for an identity never paid, whose balance is 0.
func Account(r Reader, identityID string) (*pb.Account, error) {
	return queryMsg(r, kAccount(identityID), &pb.Account{})
}

// Proposal returns a governance proposal.
func Proposal(r Reader, id string) (*pb.GovProposal, error) {
	return queryMsg(r, kProposal(id), &pb.GovProposal{})
}

// Evidence returns recorded equivocation evidence.
func Evidence(r Reader, departmentID string, view, height uint64) (*pb.EquivocationEvidence, error) {
	return queryMsg(r, kEvidence(departmentID, view, height), &pb.EquivocationEvidence{})
}

// ValidatorSet returns the latest validator set decided, which may take
// effect later (see its EffectiveHeight).
func ValidatorSet(r Reader) (*pb.ValidatorSet, error) {
	return currentValset(newOverlay(readerKV{r}))
}

// ValidatorSetAt returns the validator set in force at height h.
func ValidatorSetAt(r Reader, h uint64) (*pb.ValidatorSet, error) {
	return valsetAt(newOverlay(readerKV{r}), h)
}

// Params returns the chain parameters.
func Params(r Reader) (*pb.Params, error) { return queryMsg(r, keyParams, &pb.Params{}) }

// Nonce returns a signer's last used nonce (0 before its first tx); its
// next transaction must carry Nonce+1.
func Nonce(r Reader, signer string) (uint64, error) {
	return loadNonce(newOverlay(readerKV{r}), signer)
}
