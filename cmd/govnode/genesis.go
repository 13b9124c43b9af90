package main

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/genesis"
	"github.com/govnode/govnode/keystore"
	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/node"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

func newGenesisCmd(c *cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "genesis",
		Short: "Create, extend, validate and hash the genesis document",
		Long: `The genesis document (JSON, protobuf field names) fixes the chain id, the fault
model, the chain parameters, the member departments with their validators, the
initial identities, record types and contract templates. Its hash is SHA-256 of
its deterministic protobuf encoding, independent of JSON formatting.`,
	}
	cmd.AddCommand(newGenesisNewCmd(c), newGenesisAddValidatorCmd(c), newGenesisAddIdentityCmd(c),
		newGenesisValidateCmd(c), newGenesisHashCmd(c), newGenesisBindPeerCmd(c))
	return cmd
}

func newGenesisNewCmd(c *cli) *cobra.Command {
	var chainID, faultModel, out, genesisTime, suiteName string
	var force, tender bool
	cmd := &cobra.Command{
		Use:   "new --chain-id ID",
		Short: "Write a new genesis document with no members yet",
		Long: `New writes a genesis document with no members yet: the chain id, the fault
model, the genesis time and the default parameters, and the contract template
tender.v1 (the money template a tender's award creates its contract from;
ARCHITECTURE.md §5, "Tenders"), unless --tender-template=false. --crypto-suite
fixes the chain's crypto suite for good: ed25519-sha256 (the default) or sm2-sm3
(SM2 signatures, SM3 hashes); every key the document holds must be of its scheme,
and on sm2-sm3 each validator's peer id must be bound by its consensus key
(add-validator, bind-peer).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := genesis.ParseFaultModel(faultModel); err != nil {
				return fmt.Errorf("--fault-model: %w", err)
			}
			suite, err := crypto.SuiteByName(suiteName)
			if err != nil {
				return fmt.Errorf("--crypto-suite: %w", err)
			}
			t := time.Now().UTC().Truncate(time.Second)
			if genesisTime != "" {
				var err error
				if t, err = time.Parse(time.RFC3339, genesisTime); err != nil {
					return fmt.Errorf("--genesis-time: %q is not RFC 3339", genesisTime)
				}
			}
			doc := genesis.New(chainID, faultModel, t)
			// Empty for ed25519-sha256, as every genesis before suites.
			doc.CryptoSuite = suite.HeaderName()
			if tender {
				doc.ContractTemplates = append(doc.ContractTemplates, exec.TenderTemplate())
			}
			// A new document has no validators yet; report the other problems.
			_, err = genesis.Validate(doc)
			if ve, ok := errors.AsType[*genesis.ValidationError](err); ok {
				for _, p := range ve.Problems {
					if p.Field != "validators" {
						return fmt.Errorf("%s: %s", p.Field, p.Reason)
					}
				}
			}
			if err := genesis.Save(out, doc, force); err != nil {
				if errors.Is(err, genesis.ErrExists) {
					return fmt.Errorf("%w (use --force to replace it)", err)
				}
				return err
			}
			tmpl := ""
			if tender {
				tmpl = ", contract template " + exec.TenderTemplateID
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote genesis %s (chain %s, %s, %s faults%s); add validators with \"govnode genesis add-validator %s\"\n", out, chainID, suite, faultModel, tmpl, out)
			return nil
		},
	}
	cmd.Flags().StringVar(&chainID, "chain-id", "", "chain id: up to 64 of lowercase letters, digits, '.', '_', '-', starting with a letter or digit")
	cmd.Flags().StringVar(&faultModel, "fault-model", genesis.FaultByzantine, "fault model: crash or byzantine")
	cmd.Flags().StringVar(&out, "out", "genesis.json", "file to write")
	cmd.Flags().StringVar(&genesisTime, "genesis-time", "", "genesis time, RFC 3339 (default: now)")
	cmd.Flags().BoolVar(&force, "force", false, "replace an existing file")
	cmd.Flags().BoolVar(&tender, "tender-template", true, "install the contract template "+exec.TenderTemplateID+" (false: no templates)")
	cmd.Flags().StringVar(&suiteName, "crypto-suite", crypto.SuiteNameEd25519SHA256, "the chain's crypto suite, for good: "+crypto.SuiteNameEd25519SHA256+" or "+crypto.SuiteNameSM2SM3)
	_ = cmd.MarkFlagRequired("chain-id")
	return cmd
}

// parsePublicKey reads a "base64" or "scheme:base64" public key.
func parsePublicKey(s string) (*pb.PublicKey, error) {
	scheme := "ed25519"
	if name, rest, ok := strings.Cut(s, ":"); ok {
		scheme, s = name, rest
	}
	sc, err := crypto.SchemeByName(scheme)
	if err != nil {
		return nil, err
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("public key is not base64: %w", err)
	}
	pub := &pb.PublicKey{Scheme: sc, Key: b}
	if err := crypto.ValidatePublicKey(pub); err != nil {
		return nil, err
	}
	return pub, nil
}

func newGenesisAddValidatorCmd(c *cli) *cobra.Command {
	var deptID, name, consKey, peerID, binding string
	var addrs []string
	kf := &keyFlags{}
	cmd := &cobra.Command{
		Use:   "add-validator FILE --department-id ID [--home DIR | --consensus-key K --peer-id P --addr A [--peer-binding HEX]]",
		Short: "Add a department and its validator to a genesis file",
		Long: `Add-validator appends a department with its validator to FILE.

Without --consensus-key and --peer-id, they are read from the node home (--home):
the public halves of its validator and node keys (no passphrase needed), and the
p2p addresses of its config.toml (external_addrs if set, else listen_addrs).
Flags given override what the home says. --name defaults to the home's moniker.
It also adds the identity ID-validator (an official without roles, keyed by the
consensus key), with which the node signs the equivocation evidence it finds.
--consensus-key is base64 (or ed25519:base64, sm2:base64), as "govnode keys show"
prints it.

On an sm2-sm3 genesis (genesis new --crypto-suite sm2-sm3) the validator's
consensus key must bind its node's peer id (peer_binding): with the validator key
read from --home, add-validator signs the binding with it (its passphrase from
--passphrase-file, $GOVNODE_PASSPHRASE or a prompt); with --consensus-key, give
--peer-binding, which "govnode genesis bind-peer" makes where the key is. An
ed25519-sha256 genesis takes no binding.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			file := args[0]
			doc, err := genesis.Load(file)
			if err != nil {
				return err
			}
			for _, f := range []string{"consensus-key", "peer-id"} {
				if v, _ := cmd.Flags().GetString(f); cmd.Flags().Changed(f) && strings.TrimSpace(v) == "" {
					return fmt.Errorf("--%s is empty: give the value, or leave the flag out to read it from --home", f)
				}
			}
			d := &pb.Department{Id: deptID, Name: name, PeerId: peerID, Addrs: addrs}
			if consKey != "" {
				if d.ConsensusKey, err = parsePublicKey(consKey); err != nil {
					return fmt.Errorf("--consensus-key: %w", err)
				}
			}
			if consKey == "" || peerID == "" {
				if err := fillFromHome(c, d, !cmd.Flags().Changed("addr")); err != nil {
					return err
				}
			}
			if d.Name == "" {
				d.Name = d.Id
			}
			if d.PeerBinding, err = genesisPeerBinding(cmd, c, kf, doc, d, binding, consKey == ""); err != nil {
				return err
			}
			if err := genesis.AddValidator(doc, d); err != nil {
				return err
			}
			// The node's own identity, which signs the equivocation
			// evidence it finds (genesis.ValidatorIdentityID).
			if err := genesis.AddIdentity(doc, genesis.ValidatorIdentity(d)); err != nil {
				return err
			}
			if err := genesis.Save(file, doc, true); err != nil {
				return err
			}
			q := genesis.Quorum(doc.GetFaultModel(), len(doc.GetValidators()))
			fmt.Fprintf(cmd.OutOrStdout(), "added validator %s (peer %s) to %s: %d validator(s), quorum %d\n", d.Id, d.PeerId, file, len(doc.GetValidators()), q)
			return nil
		},
	}
	cmd.Flags().StringVar(&deptID, "department-id", "", "department id")
	cmd.Flags().StringVar(&name, "name", "", "department name (default: the home's moniker, else the id)")
	cmd.Flags().StringVar(&consKey, "consensus-key", "", "validator public key, base64 (default: from --home)")
	cmd.Flags().StringVar(&peerID, "peer-id", "", "libp2p peer id of the node (default: from --home)")
	cmd.Flags().StringSliceVar(&addrs, "addr", nil, "p2p multiaddr(s) of the node (default: from --home's config)")
	cmd.Flags().StringVar(&binding, "peer-binding", "", "sm2-sm3 genesis only: the consensus key's binding of the peer id, hex (govnode genesis bind-peer; default: signed with --home's validator key)")
	addKeyFlags(cmd, kf, false)
	_ = cmd.MarkFlagRequired("department-id")
	cmd.Flags().Lookup("department-id").Usage += " (required)"
	return cmd
}

// genesisPeerBinding is the peer binding of validator d in doc: the hex
// of --peer-binding (flag) if given; else, on an sm2-sm3 genesis whose
// validator key comes from the home (fromHome), the home's validator key's
// signature; else none. genesis.AddValidator then checks it against the
// suite's rule (genesis.CheckPeerBinding).
func genesisPeerBinding(cmd *cobra.Command, c *cli, kf *keyFlags, doc *pb.GenesisDoc, d *pb.Department, flag string, fromHome bool) ([]byte, error) {
	if flag != "" {
		return parsePeerBindingArg("peer-binding", flag)
	}
	suite, err := genesis.Suite(doc)
	if err != nil || suite != crypto.SM2SM3 {
		return nil, err
	}
	if !fromHome {
		return nil, fmt.Errorf("%s genesis: validator %s needs --peer-binding, its consensus key's binding of peer id %s (make it with \"govnode genesis bind-peer --key VALIDATOR_KEY_FILE --chain-id %s --department %s --peer-id %s\" where the key is)",
			suite, d.GetId(), d.GetPeerId(), doc.GetChainId(), d.GetId(), d.GetPeerId())
	}
	cfg, err := node.LoadConfig(filepath.Join(c.home, configFileName))
	if err != nil {
		return nil, err
	}
	lk, err := c.loadKey(cmd, cfg.ResolvePath(cfg.ValidatorKeyFile), kf.passphraseFile)
	if err != nil {
		return nil, fmt.Errorf("the validator key, to bind the peer id on an %s genesis: %w", suite, err)
	}
	if !crypto.PublicKeyEqual(lk.key.Public(), d.GetConsensusKey()) {
		return nil, fmt.Errorf("%s does not hold the consensus key read from the home", lk.info.Path)
	}
	return genesis.BindPeer(lk.key, doc.GetChainId(), d.GetId(), d.GetPeerId())
}

// parsePeerBindingArg reads a peer binding: hex, as bind-peer prints it.
func parsePeerBindingArg(flag, s string) ([]byte, error) {
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) == 0 {
		return nil, fmt.Errorf("--%s: want the binding in hex, as \"govnode genesis bind-peer\" prints it", flag)
	}
	return b, nil
}

func newGenesisBindPeerCmd(c *cli) *cobra.Command {
	var keyFile, chainID, dept, peerID string
	kf := &keyFlags{}
	cmd := &cobra.Command{
		Use:   "bind-peer --key VALIDATOR_KEY_FILE --chain-id ID --department ID --peer-id ID|NODE_KEY_FILE",
		Short: "Print a validator key's binding of its node's peer id (sm2-sm3 chains), in hex",
		Long: `Bind-peer signs, with a department's SM2 consensus (validator) key, the
binding of its node's libp2p peer id on the chain: the peer_binding an sm2-sm3
chain requires of every department, checked by genesis, the state machine and
every node's peer admission (ARCHITECTURE.md §7). It prints the binding in hex,
for "genesis add-validator --peer-binding" and the proposals add-department
(the new department's key), rotate-node-key (the department's current key, of
the new peer id) and rotate-validator-key (the new key, of the current peer id).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := exec.ValidChainID(chainID); err != nil {
				return fmt.Errorf("--chain-id %q: %w", chainID, err)
			}
			if err := exec.ValidID(dept); err != nil {
				return fmt.Errorf("--department %q: %w", dept, err)
			}
			pid, err := parsePeerIDArg("peer-id", peerID)
			if err != nil {
				return err
			}
			lk, err := c.loadKey(cmd, keyFile, kf.passphraseFile)
			if err != nil {
				return fmt.Errorf("--key: %w", err)
			}
			if lk.info.Kind != keystore.KindValidator {
				return fmt.Errorf("--key: %s is a key of kind %s, not a validator key", keyFile, lk.info.Kind)
			}
			if s := lk.key.Scheme(); s != crypto.SM2SM3.Scheme() {
				return fmt.Errorf("--key: %s is a %s key: only an %s chain binds peer ids, with SM2 keys", keyFile, crypto.SchemeName(s), crypto.SM2SM3)
			}
			b, err := genesis.BindPeer(lk.key, chainID, dept, pid)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), hex.EncodeToString(b))
			return nil
		},
	}
	cmd.Flags().StringVar(&keyFile, "key", "", "the department's SM2 validator key file")
	cmd.Flags().StringVar(&chainID, "chain-id", "", "chain id")
	cmd.Flags().StringVar(&dept, "department", "", "department id")
	cmd.Flags().StringVar(&peerID, "peer-id", "", "the node's libp2p peer id, or its node key file")
	addKeyFlags(cmd, kf, false)
	for _, f := range []string{"key", "chain-id", "department", "peer-id"} {
		_ = cmd.MarkFlagRequired(f)
		cmd.Flags().Lookup(f).Usage += " (required)"
	}
	return cmd
}

// fillFromHome completes d from the node home c.home.
func fillFromHome(c *cli, d *pb.Department, takeAddrs bool) error {
	return fillFromHomeDir(c.home, d, takeAddrs)
}

// fillFromHomeDir completes d from the node home home: the consensus key
// and peer id it lacks, and with takeAddrs its p2p addresses.
func fillFromHomeDir(home string, d *pb.Department, takeAddrs bool) error {
	cfgPath := filepath.Join(home, configFileName)
	cfg, err := node.LoadConfig(cfgPath)
	if err != nil {
		return fmt.Errorf("no --consensus-key and --peer-id given, so they are read from the node home %s (--home), which has none: %w", home, err)
	}
	if d.ConsensusKey == nil {
		if cfg.ValidatorKeyFile == "" {
			return fmt.Errorf("%s has no validator_key_file: an observer cannot be a validator", cfgPath)
		}
		info, err := keystore.LoadPublic(cfg.ResolvePath(cfg.ValidatorKeyFile))
		if err != nil {
			return err
		}
		if info.Kind != keystore.KindValidator {
			return fmt.Errorf("%s is a %s key, not a validator key", info.Path, info.Kind)
		}
		d.ConsensusKey = info.PublicKey
	}
	if d.PeerId == "" {
		info, err := keystore.LoadPublic(cfg.ResolvePath(cfg.NodeKeyFile))
		if err != nil {
			return err
		}
		pid, err := keystore.PeerIDFromPublicKey(info.PublicKey)
		if err != nil {
			return err
		}
		d.PeerId = pid.String()
	}
	if takeAddrs {
		d.Addrs = cfg.P2P.ExternalAddrs
		if len(d.Addrs) == 0 {
			d.Addrs = cfg.P2P.ListenAddrs
		}
	}
	if d.Name == "" {
		d.Name = cfg.Moniker
	}
	return nil
}

var roleNames = map[string]pb.Role{
	"admin":     pb.Role_ROLE_ADMIN,
	"registrar": pb.Role_ROLE_REGISTRAR,
	"issuer":    pb.Role_ROLE_ISSUER,
	"auditor":   pb.Role_ROLE_AUDITOR,
}

var kindNames = map[string]pb.IdentityKind{
	"official": pb.IdentityKind_IDENTITY_KIND_OFFICIAL,
	"citizen":  pb.IdentityKind_IDENTITY_KIND_CITIZEN,
	"company":  pb.IdentityKind_IDENTITY_KIND_COMPANY,
}

func newGenesisAddIdentityCmd(c *cli) *cobra.Command {
	var id, dept, name, kind, pubkey, keyFile string
	var roles, recordTypes []string
	cmd := &cobra.Command{
		Use:   "add-identity FILE --id ID --department DEPT --kind KIND (--pubkey K | --key-file F)",
		Short: "Add an initial identity (a department admin, an official, a citizen) to a genesis file",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			file := args[0]
			doc, err := genesis.Load(file)
			if err != nil {
				return err
			}
			k, ok := kindNames[strings.ToLower(kind)]
			if !ok {
				return fmt.Errorf("--kind: unknown kind %q (want official, citizen or company)", kind)
			}
			ident := &pb.Identity{Id: id, Kind: k, DepartmentId: dept, DisplayName: name,
				Status: pb.IdentityStatus_IDENTITY_STATUS_ACTIVE, IssuerRecordTypes: recordTypes}
			for _, r := range roles {
				role, ok := roleNames[strings.ToLower(strings.TrimSpace(r))]
				if !ok {
					return fmt.Errorf("--roles: unknown role %q (want admin, registrar, issuer or auditor)", r)
				}
				ident.Roles = append(ident.Roles, role)
			}
			switch {
			case pubkey != "" && keyFile != "":
				return errors.New("give --pubkey or --key-file, not both")
			case pubkey != "":
				if ident.PublicKey, err = parsePublicKey(pubkey); err != nil {
					return fmt.Errorf("--pubkey: %w", err)
				}
			case keyFile != "":
				info, err := keystore.LoadPublic(keyFile)
				if err != nil {
					return err
				}
				if info.Kind != keystore.KindAccount {
					return fmt.Errorf("--key-file %s is a %s key; identities sign with account keys", keyFile, info.Kind)
				}
				ident.PublicKey = info.PublicKey
			default:
				return errors.New("give the identity's key: --pubkey or --key-file")
			}
			if err := genesis.AddIdentity(doc, ident); err != nil {
				return err
			}
			if err := genesis.Save(file, doc, true); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "added identity %s (%s of %s) to %s\n", id, strings.ToLower(kind), dept, file)
			return nil
		},
	}
	cmd.Flags().StringVar(&id, "id", "", "identity id")
	cmd.Flags().StringVar(&dept, "department", "", "department id (of an official; registering department of a citizen or company)")
	cmd.Flags().StringVar(&name, "name", "", "display name")
	cmd.Flags().StringVar(&kind, "kind", "official", "official, citizen or company")
	cmd.Flags().StringSliceVar(&roles, "roles", nil, "roles of an official: admin, registrar, issuer, auditor")
	cmd.Flags().StringSliceVar(&recordTypes, "issuer-record-types", nil, "record types an issuer may issue")
	cmd.Flags().StringVar(&pubkey, "pubkey", "", "public key, base64 (or ed25519:base64)")
	cmd.Flags().StringVar(&keyFile, "key-file", "", "account key file to take the public key from (no passphrase needed)")
	for _, f := range []string{"id", "department", "name"} {
		_ = cmd.MarkFlagRequired(f)
		cmd.Flags().Lookup(f).Usage += " (required)"
	}
	return cmd
}

func newGenesisValidateCmd(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE",
		Short: "Check a genesis file; print warnings, fail listing every error",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			doc, err := genesis.Load(args[0])
			if err != nil {
				return err
			}
			warnings, verr := genesis.Validate(doc)
			for _, w := range warnings {
				warn(cmd, "%s: %s", w.Field, w.Reason)
			}
			if verr != nil {
				return fmt.Errorf("%s: %w", args[0], verr)
			}
			h, err := genesis.Hash(doc)
			if err != nil {
				return err
			}
			n := len(doc.GetValidators())
			view := struct {
				File        string   `json:"file"`
				Valid       bool     `json:"valid"`
				ChainID     string   `json:"chain_id"`
				FaultModel  string   `json:"fault_model"`
				Validators  int      `json:"validators"`
				Quorum      int      `json:"quorum"`
				MaxFaults   int      `json:"max_faults"`
				Identities  int      `json:"identities"`
				RecordTypes int      `json:"record_types"`
				Templates   int      `json:"contract_templates"`
				Hash        string   `json:"hash"`
				Warnings    []string `json:"warnings"`
			}{
				File: args[0], Valid: true, ChainID: doc.GetChainId(), FaultModel: doc.GetFaultModel(),
				Validators: n, Quorum: genesis.Quorum(doc.GetFaultModel(), n), MaxFaults: genesis.MaxFaults(doc.GetFaultModel(), n),
				Identities: len(doc.GetIdentities()), RecordTypes: len(doc.GetRecordTypes()), Templates: len(doc.GetContractTemplates()),
				Hash: hex.EncodeToString(h), Warnings: []string{},
			}
			for _, w := range warnings {
				view.Warnings = append(view.Warnings, w.String())
			}
			if c.output == "json" {
				return writeJSON(cmd.OutOrStdout(), view)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s is valid: chain %s, %s faults, %d validator(s) (quorum %d, tolerates %d faulty), %d identities, %d record types, %d contract templates\nhash %s\n",
				view.File, view.ChainID, view.FaultModel, n, view.Quorum, view.MaxFaults, view.Identities, view.RecordTypes, view.Templates, view.Hash)
			return nil
		},
	}
}

func newGenesisHashCmd(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "hash FILE",
		Short: "Print the genesis hash (hex SHA-256 of the deterministic protobuf encoding)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			doc, err := genesis.Load(args[0])
			if err != nil {
				return err
			}
			h, err := genesis.Hash(doc)
			if err != nil {
				return err
			}
			if c.output == "json" {
				return writeJSON(cmd.OutOrStdout(), map[string]string{"file": args[0], "hash": hex.EncodeToString(h)})
			}
			fmt.Fprintln(cmd.OutOrStdout(), hex.EncodeToString(h))
			return nil
		},
	}
}
