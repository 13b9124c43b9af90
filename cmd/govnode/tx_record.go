package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/govnode/govnode/genesis"
	"github.com/govnode/govnode/ledger/exec"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// The flag variables of a group are shared by its subcommands: a process
// parses one subcommand only, and a variable bound by several subcommands
// has the same default in each.

func newTxRecordCmd(c *cli) *cobra.Command {
	cmd := &cobra.Command{Use: "record", Short: "Record transactions: create, amend, transfer, revoke, erase, access, grants",
		Long: `Record transactions. The content of a record whose type is PROTECTED (personal
data) never goes on chain: create and amend send it beside the signed tx (a
payload with a fresh salt), and the tx carries only its commitment as
content_hash. Erase makes every node delete a protected record's content.`}
	var (
		id, rtype, subject, holder, reason, newHolder, validUntil, purpose, legal, grantID, dept string
		expected                                                                                 uint64
		meta                                                                                     []string
		content                                                                                  contentFlags
	)
	cmd.AddCommand(
		c.txCommand(txSpec{
			use: "create", short: "Create version 1 of a record (signed by an issuer)",
			flags: func(f *pflag.FlagSet) {
				f.StringVar(&id, "id", "", "record id")
				f.StringVar(&rtype, "type", "", "record type registered on the chain; 'govnode testnet', --dev and 'genesis new' register "+genesis.SampleLandTitle+", "+genesis.SampleBusinessLicense+" and "+genesis.SampleBirthCert+" (protected: its content stays off chain)")
				f.StringVar(&subject, "subject", "", "identity id the record is about")
				f.StringVar(&holder, "holder", "", "identity id holding the right (default: the subject)")
				content.bind(f, true)
				f.StringSliceVar(&meta, "meta", nil, "metadata name=value (repeatable)")
			},
			required: []string{"id", "type", "subject"},
			build: func([]string) (func(*pb.TxBody), error) {
				body, hash, err := content.read()
				if err != nil {
					return nil, err
				}
				md, err := parseAttrs("meta", meta)
				if err != nil {
					return nil, err
				}
				a := &pb.CreateRecord{RecordId: id, RecordType: rtype, SubjectId: subject, HolderId: holder,
					Content: body, ContentHash: hash, ContentType: content.ctype, Metadata: md}
				return func(b *pb.TxBody) { b.Action = &pb.TxBody_CreateRecord{CreateRecord: a} }, nil
			},
		}),
		c.txCommand(txSpec{
			use: "amend", short: "Append a new version to a record",
			flags: func(f *pflag.FlagSet) {
				f.StringVar(&id, "id", "", "record id")
				f.Uint64Var(&expected, "expected-version", 0, "the record's current version, which the amendment replaces")
				content.bind(f, false)
				f.StringVar(&reason, "reason", "", "reason")
				f.StringSliceVar(&meta, "meta", nil, "metadata name=value (repeatable)")
			},
			required: []string{"id", "expected-version"},
			build: func([]string) (func(*pb.TxBody), error) {
				if expected == 0 {
					return nil, errors.New("--expected-version: versions start at 1")
				}
				body, hash, err := content.read()
				if err != nil {
					return nil, err
				}
				md, err := parseAttrs("meta", meta)
				if err != nil {
					return nil, err
				}
				a := &pb.AmendRecord{RecordId: id, ExpectedVersion: expected, Content: body, ContentHash: hash, Reason: reason, Metadata: md}
				return func(b *pb.TxBody) { b.Action = &pb.TxBody_AmendRecord{AmendRecord: a} }, nil
			},
		}),
		c.txCommand(txSpec{
			use: "consent-transfer", short: "As the holder, consent to a record's transfer to a new holder",
			flags: func(f *pflag.FlagSet) {
				f.StringVar(&id, "id", "", "record id")
				f.StringVar(&newHolder, "new-holder", "", "identity id of the new holder")
				f.StringVar(&validUntil, "valid-until", "+720h", "consent expiry: unix seconds, RFC 3339 or +duration")
			},
			required: []string{"id", "new-holder"},
			build: func([]string) (func(*pb.TxBody), error) {
				until, err := parseTime("valid-until", validUntil)
				if err != nil {
					return nil, err
				}
				a := &pb.ConsentTransfer{RecordId: id, NewHolderId: newHolder, ValidUntil: until}
				return func(b *pb.TxBody) { b.Action = &pb.TxBody_ConsentTransfer{ConsentTransfer: a} }, nil
			},
		}),
		c.txCommand(txSpec{
			use: "transfer", short: "Transfer a record to a new holder (needs the holder's consent when its type says so)",
			flags: func(f *pflag.FlagSet) {
				f.StringVar(&id, "id", "", "record id")
				f.StringVar(&newHolder, "new-holder", "", "identity id of the new holder")
				f.StringVar(&reason, "reason", "", "reason")
			},
			required: []string{"id", "new-holder"},
			build: func([]string) (func(*pb.TxBody), error) {
				a := &pb.TransferRecord{RecordId: id, NewHolderId: newHolder, Reason: reason}
				return func(b *pb.TxBody) { b.Action = &pb.TxBody_TransferRecord{TransferRecord: a} }, nil
			},
		}),
		c.txCommand(txSpec{
			use: "revoke", short: "Revoke a record",
			flags: func(f *pflag.FlagSet) {
				f.StringVar(&id, "id", "", "record id")
				f.StringVar(&reason, "reason", "", "reason")
			},
			required: []string{"id"},
			build: func([]string) (func(*pb.TxBody), error) {
				a := &pb.RevokeRecord{RecordId: id, Reason: reason}
				return func(b *pb.TxBody) { b.Action = &pb.TxBody_RevokeRecord{RevokeRecord: a} }, nil
			},
		}),
		c.txCommand(txSpec{
			use: "erase", short: "Erase a protected record's content on every node (its subject, with --legal-basis, or an issuer of its type)",
			flags: func(f *pflag.FlagSet) {
				f.StringVar(&id, "id", "", "record id")
				f.StringVar(&reason, "reason", "", "why the content is erased (kept on chain)")
				f.StringVar(&legal, "legal-basis", "", "law or request the erasure relies on (required when the subject signs)")
			},
			required: []string{"id", "reason"},
			prepare:  checkErasable,
			build: func([]string) (func(*pb.TxBody), error) {
				if err := exec.ValidID(id); err != nil {
					return nil, fmt.Errorf("--id %q: %v", id, err)
				}
				if err := checkTextFlag("reason", reason, true); err != nil {
					return nil, err
				}
				if err := checkTextFlag("legal-basis", legal, false); err != nil {
					return nil, err
				}
				a := &pb.EraseRecordContent{RecordId: id, Reason: reason, LegalBasis: legal}
				return func(b *pb.TxBody) { b.Action = &pb.TxBody_EraseRecordContent{EraseRecordContent: a} }, nil
			},
		}),
		c.txCommand(txSpec{
			use: "access", short: "Log an official's access to a record's content",
			flags: func(f *pflag.FlagSet) {
				f.StringVar(&id, "id", "", "record id")
				f.StringVar(&purpose, "purpose", "", "purpose of the access")
				f.StringVar(&legal, "legal-basis", "", "law or grant the access relies on")
			},
			required: []string{"id", "purpose"},
			build: func([]string) (func(*pb.TxBody), error) {
				a := &pb.AccessRecord{RecordId: id, Purpose: purpose, LegalBasis: legal}
				return func(b *pb.TxBody) { b.Action = &pb.TxBody_AccessRecord{AccessRecord: a} }, nil
			},
		}),
		c.txCommand(txSpec{
			use: "grant", short: "As a record's subject, let a department use one record or every record of a type",
			flags: func(f *pflag.FlagSet) {
				f.StringVar(&grantID, "grant-id", "", "grant id")
				f.StringVar(&dept, "department", "", "grantee department id")
				f.StringVar(&id, "record-id", "", "the record (or --record-type)")
				f.StringVar(&rtype, "record-type", "", "every record of this type (or --record-id)")
				f.StringVar(&purpose, "purpose", "", "purpose")
				f.StringVar(&validUntil, "valid-until", "+720h", "expiry: unix seconds, RFC 3339 or +duration")
			},
			required: []string{"grant-id", "department"},
			build: func([]string) (func(*pb.TxBody), error) {
				if (id == "") == (rtype == "") {
					return nil, errors.New("give exactly one of --record-id and --record-type")
				}
				until, err := parseTime("valid-until", validUntil)
				if err != nil {
					return nil, err
				}
				a := &pb.GrantAccess{GrantId: grantID, GranteeDepartmentId: dept, RecordId: id, RecordType: rtype, Purpose: purpose, ValidUntil: until}
				return func(b *pb.TxBody) { b.Action = &pb.TxBody_GrantAccess{GrantAccess: a} }, nil
			},
		}),
		c.txCommand(txSpec{
			use: "revoke-grant", short: "Revoke a grant",
			flags: func(f *pflag.FlagSet) {
				f.StringVar(&grantID, "grant-id", "", "grant id")
			},
			required: []string{"grant-id"},
			build: func([]string) (func(*pb.TxBody), error) {
				a := &pb.RevokeGrant{GrantId: grantID}
				return func(b *pb.TxBody) { b.Action = &pb.TxBody_RevokeGrant{RevokeGrant: a} }, nil
			},
		}),
	)
	return cmd
}
