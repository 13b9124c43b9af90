package main

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/keystore"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

func newTxCmd(c *cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tx",
		Short: "Sign a transaction and submit it to a node",
		Long: `Tx signs one transaction with --key for identity --signer and submits it to
--node. The chain id comes from the node's status; the nonce is the signer's
committed nonce + 1, read from the node's state (give --nonce when earlier
transactions of the signer are still pending). It prints the tx hash, and with
--wait the height and result once committed. A refused submission, a --wait
that times out and a committed transaction whose action failed exit with 1.`,
	}
	cmd.AddCommand(newTxIdentityCmd(c), newTxRecordCmd(c), newTxContractCmd(c), newTxTenderCmd(c), newTxGovCmd(c))
	return cmd
}

// txSpec describes one tx subcommand: its flags (bound into the closure's
// variables) and the action it builds from them.
type txSpec struct {
	use, short string
	args       cobra.PositionalArgs
	flags      func(f *pflag.FlagSet)
	required   []string
	build      func(args []string) (func(*pb.TxBody), error)
	// prepare, if set, completes the body once the node is known.
	prepare txPrepare
	// signed, if set, checks or completes the action once the signer
	// (--signer) is known, before any call to the node.
	signed func(signing) error
	// after, if set, runs once the tx was sent or failed to be (err),
	// and returns the command's error.
	after func(cmd *cobra.Command, err error) error
}

func (c *cli) txCommand(s txSpec) *cobra.Command {
	sf := &signFlags{}
	cf := &clientFlags{}
	args := s.args
	if args == nil {
		args = cobra.NoArgs
	}
	cmd := &cobra.Command{
		Use:   s.use,
		Short: s.short,
		Args:  args,
		RunE: func(cmd *cobra.Command, args []string) error {
			set, err := s.build(args)
			if err != nil {
				return err
			}
			if s.signed != nil {
				if sf.signer == "" {
					return errors.New("--signer is required: the identity id the key signs for")
				}
				sf.beforeSign = s.signed
			}
			err = c.sendTx(cmd, sf, cf, set, s.prepare)
			if s.after != nil {
				return s.after(cmd, err)
			}
			return err
		},
	}
	if s.flags != nil {
		s.flags(cmd.Flags())
	}
	addSignFlags(cmd, sf)
	addClientFlags(cmd, cf)
	for _, r := range s.required {
		_ = cmd.MarkFlagRequired(r)
		// cobra checks required flags but its help does not say which.
		if f := cmd.Flags().Lookup(r); f != nil {
			f.Usage += " (required)"
		}
	}
	return cmd
}

// ------------------------------------------------------------ parsing helpers

// parseAttrs reads name=value pairs.
func parseAttrs(flag string, kvs []string) ([]*pb.Attribute, error) {
	var out []*pb.Attribute
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--%s %q: want name=value", flag, kv)
		}
		out = append(out, &pb.Attribute{Name: k, Value: v})
	}
	return out, nil
}

// parseRoles reads role names: admin, registrar, issuer, auditor (or the
// enum names).
func parseRoles(names []string) ([]pb.Role, error) {
	var out []pb.Role
	for _, n := range names {
		r, ok := pb.Role_value["ROLE_"+strings.ToUpper(strings.TrimPrefix(strings.ToUpper(n), "ROLE_"))]
		if !ok || r == 0 {
			return nil, fmt.Errorf("--role %q: want admin, registrar, issuer or auditor", n)
		}
		out = append(out, pb.Role(r))
	}
	return out, nil
}

// parseEnum reads an enum value by its short or full name.
func parseEnum(flag, prefix, s string, values map[string]int32, want string) (int32, error) {
	up := strings.ToUpper(strings.TrimSpace(s))
	v, ok := values[prefix+strings.TrimPrefix(up, prefix)]
	if !ok || v == 0 {
		return 0, fmt.Errorf("--%s %q: want %s", flag, s, want)
	}
	return v, nil
}

// parsePublicKeyArg reads "scheme:base64", "base64", or the path of a key
// file (whose public part is used; no passphrase needed).
func parsePublicKeyArg(flag, s string) (*pb.PublicKey, error) {
	if s == "" {
		return nil, fmt.Errorf("--%s is required", flag)
	}
	if st, err := os.Stat(s); err == nil && !st.IsDir() {
		info, err := keystore.LoadPublic(s)
		if err != nil {
			return nil, fmt.Errorf("--%s: %w", flag, err)
		}
		return info.PublicKey, nil
	}
	pub, err := parsePublicKey(s)
	if err != nil {
		return nil, fmt.Errorf("--%s: %w (want scheme:base64 or a key file)", flag, err)
	}
	return pub, nil
}

// parseTime reads a time as unix seconds, RFC 3339, or +duration from now.
// Empty gives 0.
func parseTime(flag, s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	if d, ok := strings.CutPrefix(s, "+"); ok {
		dur, err := time.ParseDuration(d)
		if err != nil || dur <= 0 {
			return 0, fmt.Errorf("--%s %q: bad duration", flag, s)
		}
		return time.Now().Add(dur).Unix(), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return 0, fmt.Errorf("--%s %q: want unix seconds, RFC 3339 or +duration (e.g. +720h)", flag, s)
	}
	return t.Unix(), nil
}

// parseAmount reads an amount of money in integer minor units (cents, not
// currency units; ARCHITECTURE.md §5, "Budgets and payments"): a whole
// number above 0 that fits in an int64. Overflow is refused, never wrapped.
func parseAmount(flag, s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("--%s is required: an amount in minor units, above 0", flag)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	switch {
	case errors.Is(err, strconv.ErrRange):
		return 0, fmt.Errorf("--%s %q: out of range; at most %d minor units", flag, s, int64(math.MaxInt64))
	case err != nil:
		return 0, fmt.Errorf("--%s %q: want a whole number of minor units (digits only, e.g. 250000 for 2500.00)", flag, s)
	case n <= 0:
		return 0, fmt.Errorf("--%s %d: must be above 0", flag, n)
	}
	return n, nil
}

// contentFlags are --content, --content-file, --content-hash and
// --content-type of record commands.
type contentFlags struct {
	content, file, hash, ctype string
}

func (cf *contentFlags) bind(f *pflag.FlagSet, withType bool) {
	f.StringVar(&cf.content, "content", "", "record content, inline")
	f.StringVar(&cf.file, "content-file", "", "read the record content from this file")
	f.StringVar(&cf.hash, "content-hash", "", "SHA-256 (hex) of an off-chain document, for types that keep only hashes")
	if withType {
		f.StringVar(&cf.ctype, "content-type", "", "media type of the content (e.g. application/json)")
	}
}

func (cf *contentFlags) read() (content, hash []byte, err error) {
	switch {
	case cf.content != "" && cf.file != "":
		return nil, nil, errors.New("--content and --content-file exclude each other")
	case cf.file != "":
		if content, err = os.ReadFile(cf.file); err != nil {
			return nil, nil, fmt.Errorf("--content-file: %w", err)
		}
	case cf.content != "":
		content = []byte(cf.content)
	}
	if cf.hash != "" {
		if hash, err = parseHash("--content-hash", cf.hash); err != nil {
			return nil, nil, err
		}
		// With the content too, the hash must be the content's under the
		// chain's hash: checked once the signing key names the suite
		// (checkContentHash).
	}
	if content == nil && hash == nil {
		return nil, nil, errors.New("give --content, --content-file or --content-hash")
	}
	return content, hash, nil
}

// parseFields reads contract fields name=value; the value may be typed:
// int:42, bool:true, bytes:<hex>, str:text (default string).
func parseFields(flag string, kvs []string) ([]*pb.ContractField, error) {
	var out []*pb.ContractField
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--%s %q: want name=value", flag, kv)
		}
		f := &pb.ContractField{Name: k}
		typ, rest, typed := strings.Cut(v, ":")
		switch {
		case typed && typ == "int":
			n, err := strconv.ParseInt(rest, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("--%s %q: bad int", flag, kv)
			}
			f.Value = &pb.ContractField_IntValue{IntValue: n}
		case typed && typ == "bool":
			b, err := strconv.ParseBool(rest)
			if err != nil {
				return nil, fmt.Errorf("--%s %q: bad bool", flag, kv)
			}
			f.Value = &pb.ContractField_BoolValue{BoolValue: b}
		case typed && typ == "bytes":
			b, err := parseHex("--"+flag+" "+k, rest)
			if err != nil {
				return nil, err
			}
			f.Value = &pb.ContractField_BytesValue{BytesValue: b}
		case typed && typ == "str":
			f.Value = &pb.ContractField_StringValue{StringValue: rest}
		default:
			f.Value = &pb.ContractField_StringValue{StringValue: v}
		}
		out = append(out, f)
	}
	return out, nil
}

// readProtoJSON reads a message from a protojson file.
func readProtoJSON(flag, path string, m proto.Message) error {
	if path == "" {
		return fmt.Errorf("--%s is required", flag)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--%s: %w", flag, err)
	}
	if err := protojson.Unmarshal(b, m); err != nil {
		return fmt.Errorf("--%s %s: not a %s in JSON: %w", flag, path, m.ProtoReflect().Descriptor().Name(), err)
	}
	return nil
}

// checkContentHash refuses a record tx that gives both a content and a
// content hash that is not the content's under the chain's hash (the
// suite of the signing key): the state machine would refuse it too, after
// a round trip.
func checkContentHash(suite crypto.Suite, body *pb.TxBody) error {
	var content, hash []byte
	switch a := body.GetAction().(type) {
	case *pb.TxBody_CreateRecord:
		content, hash = a.CreateRecord.GetContent(), a.CreateRecord.GetContentHash()
	case *pb.TxBody_AmendRecord:
		content, hash = a.AmendRecord.GetContent(), a.AmendRecord.GetContentHash()
	}
	if len(content) > 0 && len(hash) > 0 && !bytesEqual(suite.Hash(content), hash) {
		h := "SHA-256"
		if suite == crypto.SM2SM3 {
			h = "SM3"
		}
		return fmt.Errorf("--content-hash is not the %s of the content (the hash of this %s chain)", h, suite)
	}
	return nil
}

// signing is what a tx command learns once its signing key is loaded and
// its node answered: who signs, for which chain, of which crypto suite
// (the key's scheme names it). txSpec.signed completes the body with it.
type signing struct {
	Signer string
	Suite  crypto.Suite
	// ChainID asks the node for its chain id (the checks that need no
	// node run before any call).
	ChainID func() (string, error)
	// LoadKey loads another key file the command needs (a new
	// department's validator key, to sign its peer binding), asking for
	// its passphrase as for --key.
	LoadKey func(path string) (crypto.PrivateKey, error)
}
