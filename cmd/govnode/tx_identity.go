package main

import (
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	pb "github.com/govnode/govnode/proto/govnode/v1"
)

func newTxIdentityCmd(c *cli) *cobra.Command {
	cmd := &cobra.Command{Use: "identity", Short: "Identity transactions: officials, citizens, companies, keys, credentials"}
	var (
		id, dept, name, pubKey, reason, status, kind, subject, ctype, expires string
		roles, types, attrs                                                   []string
	)
	cmd.AddCommand(
		c.txCommand(txSpec{
			use: "register-official", short: "Register an official of the signer's department (signed by an admin)",
			flags: func(f *pflag.FlagSet) {
				f.StringVar(&id, "id", "", "identity id of the new official")
				f.StringVar(&dept, "department", "", "department id")
				f.StringVar(&name, "name", "", "display name")
				f.StringSliceVar(&roles, "role", nil, "roles: admin, registrar, issuer, auditor (repeatable)")
				f.StringVar(&pubKey, "public-key", "", "public key: scheme:base64, or a key file")
				f.StringSliceVar(&types, "issuer-record-type", nil, "record types the official may issue (with role issuer)")
			},
			required: []string{"id", "department", "public-key"},
			build: func([]string) (func(*pb.TxBody), error) {
				rs, err := parseRoles(roles)
				if err != nil {
					return nil, err
				}
				pk, err := parsePublicKeyArg("public-key", pubKey)
				if err != nil {
					return nil, err
				}
				a := &pb.RegisterOfficial{IdentityId: id, DepartmentId: dept, DisplayName: name, Roles: rs, PublicKey: pk, IssuerRecordTypes: types}
				return func(b *pb.TxBody) { b.Action = &pb.TxBody_RegisterOfficial{RegisterOfficial: a} }, nil
			},
		}),
		c.txCommand(txSpec{
			use: "register-subject", short: "Register a citizen or company (signed by a registrar)",
			flags: func(f *pflag.FlagSet) {
				f.StringVar(&id, "id", "", "identity id")
				f.StringVar(&kind, "kind", "citizen", "citizen or company")
				f.StringVar(&name, "name", "", "display name")
				f.StringVar(&pubKey, "public-key", "", "public key: scheme:base64, or a key file")
				f.StringSliceVar(&attrs, "attr", nil, "attribute name=value (repeatable)")
			},
			required: []string{"id", "public-key"},
			build: func([]string) (func(*pb.TxBody), error) {
				k, err := parseEnum("kind", "IDENTITY_KIND_", kind, pb.IdentityKind_value, "citizen or company")
				if err != nil {
					return nil, err
				}
				pk, err := parsePublicKeyArg("public-key", pubKey)
				if err != nil {
					return nil, err
				}
				at, err := parseAttrs("attr", attrs)
				if err != nil {
					return nil, err
				}
				a := &pb.RegisterSubject{IdentityId: id, Kind: pb.IdentityKind(k), DisplayName: name, PublicKey: pk, Attributes: at}
				return func(b *pb.TxBody) { b.Action = &pb.TxBody_RegisterSubject{RegisterSubject: a} }, nil
			},
		}),
		c.txCommand(txSpec{
			use: "rotate-key", short: "Replace an identity's key (by the holder, or a registrar with --reason)",
			flags: func(f *pflag.FlagSet) {
				f.StringVar(&id, "id", "", "identity id")
				f.StringVar(&pubKey, "new-public-key", "", "new public key: scheme:base64, or a key file")
				f.StringVar(&reason, "reason", "", "reason (required when a registrar rotates)")
			},
			required: []string{"id", "new-public-key"},
			build: func([]string) (func(*pb.TxBody), error) {
				pk, err := parsePublicKeyArg("new-public-key", pubKey)
				if err != nil {
					return nil, err
				}
				a := &pb.RotateKey{IdentityId: id, NewPublicKey: pk, Reason: reason}
				return func(b *pb.TxBody) { b.Action = &pb.TxBody_RotateKey{RotateKey: a} }, nil
			},
		}),
		c.txCommand(txSpec{
			use: "set-status", short: "Suspend, reinstate (active) or revoke an identity",
			flags: func(f *pflag.FlagSet) {
				f.StringVar(&id, "id", "", "identity id")
				f.StringVar(&status, "status", "", "active, suspended or revoked (final)")
				f.StringVar(&reason, "reason", "", "reason")
			},
			required: []string{"id", "status"},
			build: func([]string) (func(*pb.TxBody), error) {
				s, err := parseEnum("status", "IDENTITY_STATUS_", status, pb.IdentityStatus_value, "active, suspended or revoked")
				if err != nil {
					return nil, err
				}
				a := &pb.SetIdentityStatus{IdentityId: id, Status: pb.IdentityStatus(s), Reason: reason}
				return func(b *pb.TxBody) { b.Action = &pb.TxBody_SetIdentityStatus{SetIdentityStatus: a} }, nil
			},
		}),
		c.txCommand(txSpec{
			use: "set-roles", short: "Replace an official's roles (signed by an admin of its department)",
			flags: func(f *pflag.FlagSet) {
				f.StringVar(&id, "id", "", "identity id of the official")
				f.StringSliceVar(&roles, "role", nil, "roles: admin, registrar, issuer, auditor (repeatable)")
				f.StringSliceVar(&types, "issuer-record-type", nil, "record types the official may issue")
			},
			required: []string{"id"},
			build: func([]string) (func(*pb.TxBody), error) {
				rs, err := parseRoles(roles)
				if err != nil {
					return nil, err
				}
				a := &pb.SetRoles{IdentityId: id, Roles: rs, IssuerRecordTypes: types}
				return func(b *pb.TxBody) { b.Action = &pb.TxBody_SetRoles{SetRoles: a} }, nil
			},
		}),
		c.txCommand(txSpec{
			use: "issue-credential", short: "Issue a credential to an identity (signed by an issuer)",
			flags: func(f *pflag.FlagSet) {
				f.StringVar(&id, "id", "", "credential id")
				f.StringVar(&subject, "subject", "", "identity id of the subject")
				f.StringVar(&ctype, "type", "", "credential type")
				f.StringSliceVar(&attrs, "claim", nil, "claim name=value (repeatable)")
				f.StringVar(&expires, "expires-at", "", "expiry: unix seconds, RFC 3339 or +duration (default: none)")
			},
			required: []string{"id", "subject", "type"},
			build: func([]string) (func(*pb.TxBody), error) {
				cl, err := parseAttrs("claim", attrs)
				if err != nil {
					return nil, err
				}
				exp, err := parseTime("expires-at", expires)
				if err != nil {
					return nil, err
				}
				a := &pb.IssueCredential{CredentialId: id, SubjectId: subject, CredentialType: ctype, Claims: cl, ExpiresAt: exp}
				return func(b *pb.TxBody) { b.Action = &pb.TxBody_IssueCredential{IssueCredential: a} }, nil
			},
		}),
		c.txCommand(txSpec{
			use: "revoke-credential", short: "Revoke a credential",
			flags: func(f *pflag.FlagSet) {
				f.StringVar(&id, "id", "", "credential id")
				f.StringVar(&reason, "reason", "", "reason")
			},
			required: []string{"id"},
			build: func([]string) (func(*pb.TxBody), error) {
				a := &pb.RevokeCredential{CredentialId: id, Reason: reason}
				return func(b *pb.TxBody) { b.Action = &pb.TxBody_RevokeCredential{RevokeCredential: a} }, nil
			},
		}),
	)
	return cmd
}
