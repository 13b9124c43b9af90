package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	ma "github.com/multiformats/go-multiaddr"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/govnode/govnode/consensus"
	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/genesis"
	"github.com/govnode/govnode/keystore"
	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/node"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

func newTxGovCmd(c *cli) *cobra.Command {
	cmd := &cobra.Command{Use: "gov", Short: "Governance transactions: proposals, votes, evidence"}
	propose := &cobra.Command{
		Use:   "propose",
		Short: "Submit a governance proposal (payloads in protojson files)",
		Long: `Propose submits a proposal. Complex payloads come from a JSON file in the
protobuf JSON form of their message:

  add-department        --file: AddDepartment {"department": {...}, "admin": {...}}
                        or --department ID --admin ID --admin-key KEY and
                        --consensus-key KEY --peer-id ID [--addr A]... or --node-home DIR
                        [--peer-binding HEX]
  remove-department     --department ID
  rotate-validator-key  --department ID --consensus-key KEY (e.g. keys/validator.pending.key)
                        [--peer-binding HEX]
  rotate-node-key       --department ID --peer-id ID|KEYFILE [--addr A]... [--peer-binding HEX]
  fault-model           --fault-model crash|byzantine
  add-observer          --peer-id ID|KEYFILE [--name NAME]
  remove-observer       --peer-id ID|KEYFILE
  params                --file: Params {"maxBlockTxs": "5000", ...}
  record-type           --file: RecordType {"id": "...", "createDepartments": [...], ...}
  contract-template     --file: ContractTemplate {"id": "...", "roles": [...], ...}
  fund-budget           --department ID --amount N --reason TEXT (N in minor units)
  schedule-upgrade      --name NAME --halt-height H [--info TEXT]; --halt-height 0
                        cancels the pending upgrade NAME

A KEY is scheme:base64, base64 (ed25519) or a key file (its public half; no
passphrase needed). A validator-set change (add, remove, rotations, fault
model) takes effect at the deciding height + validator_change_delay; a key
rotation is proposed by an admin of the rotated department. --title defaults
to the verb and its subject.

On an sm2-sm3 chain each department's SM2 consensus key binds its node's peer
id, and the three membership proposals carry that binding (--peer-binding, hex,
as "govnode genesis bind-peer" prints it where the key is): add-department the
new key's of the new peer id, rotate-node-key the department's current key's of
the new peer id, rotate-validator-key the new key's of the current peer id. An
ed25519-sha256 chain takes none. (With add-department --file, the binding is
the department's "peerBinding", base64.)`,
	}
	var (
		pid, title, file, dept, vote, amount, reason string
		upName, upInfo                               string
		haltHeight                                   uint64
		end                                          uint64
		// add-department, rotations, observers, fault model
		name, consKey, peerID, nodeHome, admin, adminKey, adminName, model string
		addrs                                                              []string
		binding                                                            string
		// bound is the parsed --peer-binding (or the --file's) that
		// checkBinding holds against the signer's suite.
		bound []byte
		// added is add-department's change, whose binding the new
		// department's --node-home may sign.
		added *pb.AddDepartment
	)
	bindingFlag := func(f *pflag.FlagSet, whose string) {
		f.StringVar(&binding, "peer-binding", "", "sm2-sm3 chains only: "+whose+", hex (govnode genesis bind-peer)")
	}
	// checkBinding refuses, before anything is signed, a proposal without
	// a binding on an sm2-sm3 chain (the signer's key names the suite) or
	// with one on an ed25519-sha256 chain; the state machine would refuse
	// it (crypto.CheckPeerBinding).
	checkBinding := func(what string) func(signing) error {
		return func(s signing) error {
			suite := s.Suite
			if what == "add-department" && suite == crypto.SM2SM3 && len(bound) == 0 && nodeHome != "" && added != nil {
				// The new department's home holds its validator key:
				// it signs its own binding.
				b, err := bindFromHome(s, nodeHome, added.GetDepartment())
				if err != nil {
					return fmt.Errorf("--node-home: the peer binding: %w", err)
				}
				added.Department.PeerBinding, bound = b, b
			}
			switch {
			case suite == crypto.SM2SM3 && len(bound) == 0:
				return fmt.Errorf("%s on an %s chain needs --peer-binding: %s (make it with \"govnode genesis bind-peer\" where the key is)", what, suite, bindingWhose[what])
			case suite != crypto.SM2SM3 && len(bound) > 0:
				return fmt.Errorf("--peer-binding: an %s chain takes no peer binding (only %s chains do)", suite, crypto.SM2SM3)
			}
			return nil
		}
	}
	parseBinding := func() error {
		bound = nil
		if binding == "" {
			return nil
		}
		var err error
		bound, err = parsePeerBindingArg("peer-binding", binding)
		return err
	}
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
	// titled is proposal with --title defaulting to def.
	titled := func(def string, change func(p *pb.SubmitProposal)) func(*pb.TxBody) {
		if title == "" {
			title = def
		}
		return proposal(change)
	}
	deptFlag := func(f *pflag.FlagSet) { f.StringVar(&dept, "department", "", "department id") }
	propose.AddCommand(
		c.txCommand(txSpec{
			use: "add-department", short: "Propose adding a department (its validator, node and first admin)",
			flags: func(f *pflag.FlagSet) {
				commonFlags(f)
				f.StringVar(&file, "file", "", "AddDepartment in JSON (instead of the flags below)")
				deptFlag(f)
				f.StringVar(&name, "name", "", "department name (default: the id)")
				f.StringVar(&consKey, "consensus-key", "", "the validator's consensus public key or key file (default: from --node-home)")
				f.StringVar(&peerID, "peer-id", "", "the node's libp2p peer id or node key file (default: from --node-home)")
				f.StringSliceVar(&addrs, "addr", nil, "the node's p2p multiaddr(s) (default: from --node-home's config)")
				f.StringVar(&nodeHome, "node-home", "", "the new department's node home, for what the flags above leave out")
				f.StringVar(&admin, "admin", "", "identity id of the department's first admin")
				f.StringVar(&adminKey, "admin-key", "", "the admin's public key or key file")
				f.StringVar(&adminName, "admin-name", "", "the admin's display name (default: the admin id)")
				bindingFlag(f, bindingWhose["add-department"])
			},
			required: []string{"id", "voting-end-height"},
			signed:   checkBinding("add-department"),
			build: func([]string) (func(*pb.TxBody), error) {
				if file != "" && binding != "" {
					return nil, errors.New("--file and --peer-binding exclude each other: put the binding in the file's department (peerBinding)")
				}
				if err := parseBinding(); err != nil {
					return nil, err
				}
				m, err := addDepartmentArgs(file, dept, name, consKey, peerID, nodeHome, admin, adminKey, adminName, addrs)
				if err != nil {
					return nil, err
				}
				if file != "" {
					bound = m.GetDepartment().GetPeerBinding()
				} else {
					m.Department.PeerBinding = bound
				}
				added = m
				return titled("add department "+m.GetDepartment().GetId(), func(p *pb.SubmitProposal) {
					p.Change = &pb.SubmitProposal_AddDepartment{AddDepartment: m}
				}), nil
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
				if err := exec.ValidID(dept); err != nil {
					return nil, fmt.Errorf("--department %q: %w", dept, err)
				}
				m := &pb.RemoveDepartment{DepartmentId: dept}
				return proposal(func(p *pb.SubmitProposal) { p.Change = &pb.SubmitProposal_RemoveDepartment{RemoveDepartment: m} }), nil
			},
		}),
		c.txCommand(txSpec{
			use: "rotate-validator-key", short: "Propose a new consensus key for a department's validator",
			flags: func(f *pflag.FlagSet) {
				commonFlags(f)
				deptFlag(f)
				f.StringVar(&consKey, "consensus-key", "", "the new consensus public key or key file (govnode keys pending)")
				bindingFlag(f, bindingWhose["rotate-validator-key"])
			},
			required: []string{"id", "voting-end-height", "department", "consensus-key"},
			signed:   checkBinding("rotate-validator-key"),
			build: func([]string) (func(*pb.TxBody), error) {
				if err := exec.ValidID(dept); err != nil {
					return nil, fmt.Errorf("--department %q: %w", dept, err)
				}
				k, err := parseConsensusKeyArg("consensus-key", consKey)
				if err != nil {
					return nil, err
				}
				if err := parseBinding(); err != nil {
					return nil, err
				}
				m := &pb.RotateValidatorKey{DepartmentId: dept, ConsensusKey: k, PeerBinding: bound}
				return titled("rotate the validator key of "+dept, func(p *pb.SubmitProposal) {
					p.Change = &pb.SubmitProposal_RotateValidatorKey{RotateValidatorKey: m}
				}), nil
			},
		}),
		c.txCommand(txSpec{
			use: "rotate-node-key", short: "Propose a new node peer id (and addresses) for a department",
			flags: func(f *pflag.FlagSet) {
				commonFlags(f)
				deptFlag(f)
				f.StringVar(&peerID, "peer-id", "", "the new libp2p peer id, or the new node key file")
				f.StringSliceVar(&addrs, "addr", nil, "the node's new p2p multiaddr(s) (default: keep the current ones)")
				bindingFlag(f, bindingWhose["rotate-node-key"])
			},
			required: []string{"id", "voting-end-height", "department", "peer-id"},
			signed:   checkBinding("rotate-node-key"),
			build: func([]string) (func(*pb.TxBody), error) {
				if err := exec.ValidID(dept); err != nil {
					return nil, fmt.Errorf("--department %q: %w", dept, err)
				}
				id, err := parsePeerIDArg("peer-id", peerID)
				if err != nil {
					return nil, err
				}
				if err := checkAddrArgs("addr", id, addrs); err != nil {
					return nil, err
				}
				if err := parseBinding(); err != nil {
					return nil, err
				}
				m := &pb.RotateNodeKey{DepartmentId: dept, PeerId: id, Addrs: addrs, PeerBinding: bound}
				return titled("rotate the node key of "+dept, func(p *pb.SubmitProposal) {
					p.Change = &pb.SubmitProposal_RotateNodeKey{RotateNodeKey: m}
				}), nil
			},
		}),
		c.txCommand(txSpec{
			use: "fault-model", short: "Propose switching the fault model (crash or byzantine)",
			flags: func(f *pflag.FlagSet) {
				commonFlags(f)
				f.StringVar(&model, "fault-model", "", "crash or byzantine")
			},
			required: []string{"id", "voting-end-height", "fault-model"},
			build: func([]string) (func(*pb.TxBody), error) {
				m := strings.ToLower(strings.TrimSpace(model))
				if m != string(consensus.Crash) && m != string(consensus.Byzantine) {
					return nil, fmt.Errorf("--fault-model %q: want crash or byzantine", model)
				}
				return titled("switch to the "+m+" fault model", func(p *pb.SubmitProposal) {
					p.Change = &pb.SubmitProposal_FaultModel{FaultModel: &pb.SetFaultModel{FaultModel: m}}
				}), nil
			},
		}),
		c.txCommand(txSpec{
			use: "add-observer", short: "Propose admitting an observer node (by peer id) to follow the chain",
			flags: func(f *pflag.FlagSet) {
				commonFlags(f)
				f.StringVar(&peerID, "peer-id", "", "the observer's libp2p peer id, or its node key file")
				f.StringVar(&name, "name", "", "whose node it is (optional)")
			},
			required: []string{"id", "voting-end-height", "peer-id"},
			build: func([]string) (func(*pb.TxBody), error) {
				id, err := parsePeerIDArg("peer-id", peerID)
				if err != nil {
					return nil, err
				}
				if len(name) > exec.MaxNameBytes {
					return nil, fmt.Errorf("--name: %d bytes, limit %d", len(name), exec.MaxNameBytes)
				}
				m := &pb.AddObserver{PeerId: id, Name: name}
				return titled("add observer "+id, func(p *pb.SubmitProposal) {
					p.Change = &pb.SubmitProposal_AddObserver{AddObserver: m}
				}), nil
			},
		}),
		c.txCommand(txSpec{
			use: "remove-observer", short: "Propose removing an observer node",
			flags: func(f *pflag.FlagSet) {
				commonFlags(f)
				f.StringVar(&peerID, "peer-id", "", "the observer's libp2p peer id, or its node key file")
			},
			required: []string{"id", "voting-end-height", "peer-id"},
			build: func([]string) (func(*pb.TxBody), error) {
				id, err := parsePeerIDArg("peer-id", peerID)
				if err != nil {
					return nil, err
				}
				m := &pb.RemoveObserver{PeerId: id}
				return titled("remove observer "+id, func(p *pb.SubmitProposal) {
					p.Change = &pb.SubmitProposal_RemoveObserver{RemoveObserver: m}
				}), nil
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
		c.txCommand(txSpec{
			use: "fund-budget", short: "Propose adding money to a department's budget (ARCHITECTURE.md §5, \"Budgets and payments\")",
			flags: func(f *pflag.FlagSet) {
				commonFlags(f)
				deptFlag(f)
				f.StringVar(&amount, "amount", "", "amount to add, in integer minor units (e.g. 250000 for 2500.00)")
				f.StringVar(&reason, "reason", "", "why the budget is funded (kept on chain with the proposal)")
			},
			required: []string{"id", "voting-end-height", "department", "amount", "reason"},
			build: func([]string) (func(*pb.TxBody), error) {
				if err := exec.ValidID(dept); err != nil {
					return nil, fmt.Errorf("--department %q: %w", dept, err)
				}
				n, err := parseAmount("amount", amount)
				if err != nil {
					return nil, err
				}
				if err := checkTextFlag("reason", reason, true); err != nil {
					return nil, err
				}
				m := &pb.FundBudget{DepartmentId: dept, Amount: n, Reason: reason}
				return titled(fmt.Sprintf("fund the budget of %s with %d", dept, n), func(p *pb.SubmitProposal) {
					p.Change = &pb.SubmitProposal_FundBudget{FundBudget: m}
				}), nil
			},
		}),
		c.txCommand(txSpec{
			use: "schedule-upgrade", short: "Propose a software upgrade: every node stops at the halt height unless its binary knows it (ARCHITECTURE.md §5, \"Upgrades\")",
			flags: func(f *pflag.FlagSet) {
				commonFlags(f)
				f.StringVar(&upName, "name", "", "upgrade name, as the new release knows it (govnode version lists the upgrades a binary knows)")
				f.Uint64Var(&haltHeight, "halt-height", 0, "last height the current binaries commit; above --voting-end-height; 0 cancels the pending upgrade --name")
				f.StringVar(&upInfo, "info", "", "where the release is and what it changes, for the operators (kept on chain)")
			},
			required: []string{"id", "voting-end-height", "name", "halt-height"},
			build: func([]string) (func(*pb.TxBody), error) {
				if err := exec.ValidID(upName); err != nil {
					return nil, fmt.Errorf("--name %q: %w", upName, err)
				}
				if err := checkTextFlag("info", upInfo, false); err != nil {
					return nil, err
				}
				m := &pb.ScheduleUpgrade{Name: upName, HaltHeight: haltHeight, Info: upInfo}
				t := fmt.Sprintf("upgrade %s at height %d", upName, haltHeight)
				if haltHeight == 0 {
					t = "cancel upgrade " + upName
				}
				return titled(t, func(p *pb.SubmitProposal) {
					p.Change = &pb.SubmitProposal_ScheduleUpgrade{ScheduleUpgrade: m}
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

// bindingWhose says, for each membership proposal, whose binding of which
// peer id its --peer-binding is (Department.peer_binding, sm2-sm3 chains).
var bindingWhose = map[string]string{
	"add-department":       "the new department's consensus key's binding of its node's peer id",
	"rotate-node-key":      "the department's current consensus key's binding of the new peer id",
	"rotate-validator-key": "the new consensus key's binding of the department's current peer id",
}

// addDepartmentArgs builds add-department's change from --file, or from
// the flags (and the new node's home for what they leave out), checked as
// genesis checks a validator.
func addDepartmentArgs(file, dept, name, consKey, peerID, nodeHome, admin, adminKey, adminName string, addrs []string) (*pb.AddDepartment, error) {
	if file != "" {
		if dept != "" || name != "" || consKey != "" || peerID != "" || nodeHome != "" || admin != "" || adminKey != "" || adminName != "" || len(addrs) > 0 {
			return nil, errors.New("--file and the department flags exclude each other")
		}
		m := &pb.AddDepartment{}
		if err := readProtoJSON("file", file, m); err != nil {
			return nil, err
		}
		return m, checkNewDepartment(m)
	}
	// In a fixed order: the first missing flag is the one named.
	for _, f := range []struct{ flag, v string }{{"department", dept}, {"admin", admin}, {"admin-key", adminKey}} {
		if f.v == "" {
			return nil, fmt.Errorf("--%s is required (or give --file)", f.flag)
		}
	}
	d := &pb.Department{Id: dept, Name: name, Addrs: addrs}
	if d.Name == "" {
		d.Name = dept
	}
	var err error
	if consKey != "" {
		if d.ConsensusKey, err = parseConsensusKeyArg("consensus-key", consKey); err != nil {
			return nil, err
		}
	}
	if peerID != "" {
		if d.PeerId, err = parsePeerIDArg("peer-id", peerID); err != nil {
			return nil, err
		}
	}
	if d.ConsensusKey == nil || d.PeerId == "" || len(addrs) == 0 {
		if nodeHome == "" {
			if d.ConsensusKey == nil || d.PeerId == "" {
				return nil, errors.New("give --consensus-key and --peer-id, or --node-home")
			}
		} else if err := fillFromHomeDir(nodeHome, d, len(addrs) == 0); err != nil {
			return nil, fmt.Errorf("--node-home: %w", err)
		}
	}
	ak, err := parsePublicKeyArg("admin-key", adminKey)
	if err != nil {
		return nil, err
	}
	if adminName == "" {
		adminName = admin
	}
	m := &pb.AddDepartment{Department: d, Admin: &pb.RegisterOfficial{
		IdentityId: admin, DepartmentId: dept, DisplayName: adminName, Roles: []pb.Role{pb.Role_ROLE_ADMIN}, PublicKey: ak,
	}}
	return m, checkNewDepartment(m)
}

// checkNewDepartment is the client's check of an AddDepartment: the
// department as genesis checks a validator, a canonical peer id, and an
// admin.
func checkNewDepartment(m *pb.AddDepartment) error {
	d := m.GetDepartment()
	if d == nil {
		return errors.New("no department")
	}
	if ps := genesis.CheckDepartment("department", d); len(ps) > 0 {
		var msgs []string
		for _, p := range ps {
			msgs = append(msgs, p.String())
		}
		return fmt.Errorf("invalid department: %s", strings.Join(msgs, "; "))
	}
	if _, err := parsePeerIDArg("peer-id", d.GetPeerId()); err != nil {
		return err
	}
	if err := checkAddrArgs("addr", d.GetPeerId(), d.GetAddrs()); err != nil {
		return err
	}
	a := m.GetAdmin()
	if err := exec.ValidID(a.GetIdentityId()); err != nil {
		return fmt.Errorf("admin id %q: %w", a.GetIdentityId(), err)
	}
	if err := crypto.ValidatePublicKey(a.GetPublicKey()); err != nil {
		return fmt.Errorf("admin key: %w", err)
	}
	return nil
}

// parseConsensusKeyArg reads a consensus public key like
// parsePublicKeyArg, refusing a key file that is not a validator key.
func parseConsensusKeyArg(flag, s string) (*pb.PublicKey, error) {
	if st, err := os.Stat(s); err == nil && !st.IsDir() {
		info, err := keystore.LoadPublic(s)
		if err != nil {
			return nil, fmt.Errorf("--%s: %w", flag, err)
		}
		if info.Kind != keystore.KindValidator {
			return nil, fmt.Errorf("--%s: %s is a key of kind %s, not a validator key", flag, s, info.Kind)
		}
		return info.PublicKey, nil
	}
	return parsePublicKeyArg(flag, s)
}

// parsePeerIDArg reads a libp2p peer id, or the node key file whose peer
// id it is, and checks it as the state machine will (exec.ValidatePeerID,
// canonical form).
func parsePeerIDArg(flag, s string) (string, error) {
	if s == "" {
		return "", fmt.Errorf("--%s is required", flag)
	}
	if st, err := os.Stat(s); err == nil && !st.IsDir() {
		info, err := keystore.LoadPublic(s)
		if err != nil {
			return "", fmt.Errorf("--%s: %w", flag, err)
		}
		if info.Kind != keystore.KindNode {
			return "", fmt.Errorf("--%s: %s is a key of kind %s, not a node key", flag, s, info.Kind)
		}
		id, err := keystore.PeerIDFromPublicKey(info.PublicKey)
		if err != nil {
			return "", fmt.Errorf("--%s: %w", flag, err)
		}
		return id.String(), nil
	}
	id, err := exec.ValidatePeerID(s)
	if err != nil {
		return "", fmt.Errorf("--%s: %w", flag, err)
	}
	if id.String() != s {
		return "", fmt.Errorf("--%s: %q is not in its canonical form %s", flag, s, id.String())
	}
	return s, nil
}

// checkAddrArgs parses each address as a multiaddr; one that names a
// peer (/p2p/ID) must name peerID.
func checkAddrArgs(flag, peerID string, addrs []string) error {
	for _, a := range addrs {
		m, err := ma.NewMultiaddr(a)
		if err != nil {
			return fmt.Errorf("--%s %q: not a multiaddr: %w", flag, a, err)
		}
		if v, err := m.ValueForProtocol(ma.P_P2P); err == nil && v != peerID {
			return fmt.Errorf("--%s %q: names peer %s, not the node's peer id %s", flag, a, v, peerID)
		}
	}
	return nil
}

// bindFromHome signs d's peer binding with the validator key of the node
// home (what `govnode init` wrote there), for the chain being signed for.
func bindFromHome(s signing, home string, d *pb.Department) ([]byte, error) {
	cfg, err := node.LoadConfig(filepath.Join(home, configFileName))
	if err != nil {
		return nil, err
	}
	if cfg.ValidatorKeyFile == "" {
		return nil, fmt.Errorf("%s has no validator key", home)
	}
	key, err := s.LoadKey(cfg.ResolvePath(cfg.ValidatorKeyFile))
	if err != nil {
		return nil, err
	}
	if !crypto.PublicKeyEqual(key.Public(), d.GetConsensusKey()) {
		return nil, errors.New("the home's validator key is not the department's --consensus-key")
	}
	chainID, err := s.ChainID()
	if err != nil {
		return nil, err
	}
	return crypto.BindPeer(key, chainID, d.GetId(), d.GetPeerId())
}
