package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	pb "github.com/govnode/govnode/proto/govnode/v1"
)

func newTxGovCmd(c *cli) *cobra.Command {
	cmd := &cobra.Command{Use: "gov", Short: "Governance transactions: proposals, votes, evidence"}
	propose := &cobra.Command{
		Use:   "propose",
		Short: "Submit a governance proposal (payloads in protojson files)",
		Long: `Propose submits a proposal. Complex payloads come from a JSON file in the
protobuf JSON form of their message:

  add-department     --file: AddDepartment {"department": {...}, "admin": {...}}
  params             --file: Params {"maxBlockTxs": "5000", ...}
  record-type        --file: RecordType {"id": "...", "createDepartments": [...], ...}
  contract-template  --file: ContractTemplate {"id": "...", "roles": [...], ...}
  remove-department  --department ID`,
	}
	var (
		pid, title, file, dept, vote string
		end                          uint64
	)
	commonFlags := func(f *pflag.FlagSet) {
		f.StringVar(&pid, "id", "", "proposal id")
		f.StringVar(&title, "title", "", "title")
		f.Uint64Var(&end, "voting-end-height", 0, "the proposal expires unapproved after this height")
	}
	proposal := func(change func(p *pb.SubmitProposal)) func(*pb.TxBody) {
		p := &pb.SubmitProposal{ProposalId: pid, Title: title, VotingEndHeight: end}
		change(p)
		return func(b *pb.TxBody) { b.Action = &pb.TxBody_SubmitProposal{SubmitProposal: p} }
	}
	propose.AddCommand(
		c.txCommand(txSpec{
			use: "add-department", short: "Propose adding a department (with its first admin)",
			flags: func(f *pflag.FlagSet) {
				commonFlags(f)
				f.StringVar(&file, "file", "", "AddDepartment in JSON")
			},
			required: []string{"id", "voting-end-height", "file"},
			build: func([]string) (func(*pb.TxBody), error) {
				m := &pb.AddDepartment{}
				if err := readProtoJSON("file", file, m); err != nil {
					return nil, err
				}
				return proposal(func(p *pb.SubmitProposal) { p.Change = &pb.SubmitProposal_AddDepartment{AddDepartment: m} }), nil
			},
		}),
		c.txCommand(txSpec{
			use: "remove-department", short: "Propose removing a department",
			flags: func(f *pflag.FlagSet) {
				commonFlags(f)
				f.StringVar(&dept, "department", "", "department id")
			},
			required: []string{"id", "voting-end-height", "department"},
			build: func([]string) (func(*pb.TxBody), error) {
				m := &pb.RemoveDepartment{DepartmentId: dept}
				return proposal(func(p *pb.SubmitProposal) { p.Change = &pb.SubmitProposal_RemoveDepartment{RemoveDepartment: m} }), nil
			},
		}),
		c.txCommand(txSpec{
			use: "params", short: "Propose new chain parameters",
			flags: func(f *pflag.FlagSet) {
				commonFlags(f)
				f.StringVar(&file, "file", "", "Params in JSON")
			},
			required: []string{"id", "voting-end-height", "file"},
			build: func([]string) (func(*pb.TxBody), error) {
				m := &pb.Params{}
				if err := readProtoJSON("file", file, m); err != nil {
					return nil, err
				}
				return proposal(func(p *pb.SubmitProposal) { p.Change = &pb.SubmitProposal_UpdateParams{UpdateParams: m} }), nil
			},
		}),
		c.txCommand(txSpec{
			use: "record-type", short: "Propose installing (or replacing) a record type",
			flags: func(f *pflag.FlagSet) {
				commonFlags(f)
				f.StringVar(&file, "file", "", "RecordType in JSON")
			},
			required: []string{"id", "voting-end-height", "file"},
			build: func([]string) (func(*pb.TxBody), error) {
				m := &pb.RecordType{}
				if err := readProtoJSON("file", file, m); err != nil {
					return nil, err
				}
				return proposal(func(p *pb.SubmitProposal) {
					p.Change = &pb.SubmitProposal_InstallRecordType{InstallRecordType: m}
				}), nil
			},
		}),
		c.txCommand(txSpec{
			use: "contract-template", short: "Propose installing a contract template",
			flags: func(f *pflag.FlagSet) {
				commonFlags(f)
				f.StringVar(&file, "file", "", "ContractTemplate in JSON")
			},
			required: []string{"id", "voting-end-height", "file"},
			build: func([]string) (func(*pb.TxBody), error) {
				m := &pb.ContractTemplate{}
				if err := readProtoJSON("file", file, m); err != nil {
					return nil, err
				}
				return proposal(func(p *pb.SubmitProposal) {
					p.Change = &pb.SubmitProposal_InstallContractTemplate{InstallContractTemplate: m}
				}), nil
			},
		}),
	)
	cmd.AddCommand(
		propose,
		c.txCommand(txSpec{
			use: "vote", short: "Vote on a proposal for the signer's department (signed by an admin)",
			flags: func(f *pflag.FlagSet) {
				f.StringVar(&pid, "proposal", "", "proposal id")
				f.StringVar(&vote, "vote", "", "yes or no")
			},
			required: []string{"proposal", "vote"},
			build: func([]string) (func(*pb.TxBody), error) {
				var approve bool
				switch strings.ToLower(vote) {
				case "yes", "y", "approve", "true":
					approve = true
				case "no", "n", "reject", "false":
				default:
					return nil, fmt.Errorf("--vote %q: want yes or no", vote)
				}
				a := &pb.VoteProposal{ProposalId: pid, Approve: approve}
				return func(b *pb.TxBody) { b.Action = &pb.TxBody_VoteProposal{VoteProposal: a} }, nil
			},
		}),
		c.txCommand(txSpec{
			use: "evidence", short: "Record proof of a validator's equivocation",
			flags: func(f *pflag.FlagSet) {
				f.StringVar(&file, "file", "", "EquivocationEvidence in JSON")
			},
			required: []string{"file"},
			build: func([]string) (func(*pb.TxBody), error) {
				m := &pb.EquivocationEvidence{}
				if err := readProtoJSON("file", file, m); err != nil {
					return nil, err
				}
				a := &pb.SubmitEvidence{Evidence: m}
				return func(b *pb.TxBody) { b.Action = &pb.TxBody_SubmitEvidence{SubmitEvidence: a} }, nil
			},
		}),
	)
	return cmd
}
