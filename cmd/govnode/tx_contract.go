package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	pb "github.com/govnode/govnode/proto/govnode/v1"
)

func newTxContractCmd(c *cli) *cobra.Command {
	cmd := &cobra.Command{Use: "contract", Short: "Contract transactions: create, sign, milestones, transitions"}
	var (
		id, template, title, milestone, note, evidence, evidenceFile, transition string
		evidenceBytes                                                            []byte
		submitted                                                                *pb.SubmitMilestone
		parties, fields                                                          []string
	)
	cmd.AddCommand(
		c.txCommand(txSpec{
			use: "create", short: "Create a contract from an installed template",
			flags: func(f *pflag.FlagSet) {
				f.StringVar(&id, "id", "", "contract id")
				f.StringVar(&template, "template", "", "template id (e.g. procurement)")
				f.StringVar(&title, "title", "", "title")
				f.StringSliceVar(&parties, "party", nil, "party role=identity (repeatable), e.g. buyer=dept0-official")
				f.StringSliceVar(&fields, "field", nil, "field name=value; typed values int:42, bool:true, bytes:<hex>, str:text (repeatable)")
			},
			required: []string{"id", "template", "party"},
			build: func([]string) (func(*pb.TxBody), error) {
				var ps []*pb.ContractParty
				for _, p := range parties {
					role, who, ok := strings.Cut(p, "=")
					if !ok || role == "" || who == "" {
						return nil, fmt.Errorf("--party %q: want role=identity", p)
					}
					ps = append(ps, &pb.ContractParty{Role: role, IdentityId: who})
				}
				fs, err := parseFields("field", fields)
				if err != nil {
					return nil, err
				}
				a := &pb.CreateContract{ContractId: id, TemplateId: template, Parties: ps, Fields: fs, Title: title}
				return func(b *pb.TxBody) { b.Action = &pb.TxBody_CreateContract{CreateContract: a} }, nil
			},
		}),
		c.txCommand(txSpec{
			use: "sign", short: "Sign a contract as one of its parties",
			flags: func(f *pflag.FlagSet) {
				f.StringVar(&id, "id", "", "contract id")
			},
			required: []string{"id"},
			build: func([]string) (func(*pb.TxBody), error) {
				a := &pb.SignContract{ContractId: id}
				return func(b *pb.TxBody) { b.Action = &pb.TxBody_SignContract{SignContract: a} }, nil
			},
		}),
		c.txCommand(txSpec{
			use: "submit-milestone", short: "Submit a milestone with the hash of its evidence",
			flags: func(f *pflag.FlagSet) {
				f.StringVar(&id, "id", "", "contract id")
				f.StringVar(&milestone, "milestone", "", "milestone id")
				f.StringVar(&evidence, "evidence-hash", "", "hash (hex) of the evidence: SHA-256, or SM3 on an sm2-sm3 chain")
				f.StringVar(&evidenceFile, "evidence-file", "", "hash this file as the evidence with the chain's hash (instead of --evidence-hash)")
				f.StringVar(&note, "note", "", "note")
			},
			required: []string{"id", "milestone"},
			build: func([]string) (func(*pb.TxBody), error) {
				var h []byte
				switch {
				case evidence != "" && evidenceFile != "":
					return nil, errors.New("--evidence-hash and --evidence-file exclude each other")
				case evidenceFile != "":
					b, err := os.ReadFile(evidenceFile)
					if err != nil {
						return nil, fmt.Errorf("--evidence-file: %w", err)
					}
					evidenceBytes = b // hashed once the chain's suite is known (completeBody)
				case evidence != "":
					var err error
					if h, err = parseHash("--evidence-hash", evidence); err != nil {
						return nil, err
					}
				}
				a := &pb.SubmitMilestone{ContractId: id, MilestoneId: milestone, EvidenceHash: h, Note: note}
				submitted = a
				return func(b *pb.TxBody) { b.Action = &pb.TxBody_SubmitMilestone{SubmitMilestone: a} }, nil
			},
			// The evidence file is hashed with the chain's hash, which
			// the signing key's scheme names.
			signed: func(s signing) error {
				if evidenceBytes != nil {
					submitted.EvidenceHash = s.Suite.Hash(evidenceBytes)
				}
				return nil
			},
		}),
		c.txCommand(txSpec{
			use: "accept-milestone", short: "Accept a submitted milestone",
			flags: func(f *pflag.FlagSet) {
				f.StringVar(&id, "id", "", "contract id")
				f.StringVar(&milestone, "milestone", "", "milestone id")
				f.StringVar(&note, "note", "", "note")
			},
			required: []string{"id", "milestone"},
			build: func([]string) (func(*pb.TxBody), error) {
				a := &pb.AcceptMilestone{ContractId: id, MilestoneId: milestone, Note: note}
				return func(b *pb.TxBody) { b.Action = &pb.TxBody_AcceptMilestone{AcceptMilestone: a} }, nil
			},
		}),
		c.txCommand(txSpec{
			use: "fire", short: "Fire a named transition of the contract's template",
			flags: func(f *pflag.FlagSet) {
				f.StringVar(&id, "id", "", "contract id")
				f.StringVar(&transition, "transition", "", "transition name")
				f.StringSliceVar(&fields, "arg", nil, "argument name=value, typed like --field of create (repeatable)")
				f.StringVar(&note, "note", "", "note")
			},
			required: []string{"id", "transition"},
			build: func([]string) (func(*pb.TxBody), error) {
				args, err := parseFields("arg", fields)
				if err != nil {
					return nil, err
				}
				a := &pb.FireTransition{ContractId: id, Transition: transition, Args: args, Note: note}
				return func(b *pb.TxBody) { b.Action = &pb.TxBody_FireTransition{FireTransition: a} }, nil
			},
		}),
	)
	return cmd
}
