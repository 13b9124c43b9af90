package main

// Proof bundles in the CLI (ARCHITECTURE.md §6, "Proof bundles"):
// `govnode query record ID --bundle FILE` fetches a record's bundle, checks
// it against the genesis --prove trusts and writes it; `govnode verify FILE`
// checks one offline, knowing nothing but the chain's genesis hash (or its
// genesis file). Both check with the light client (lightclient.VerifyBundle),
// the verifier the portal runs in the browser, and print its Report.

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/client"
	"github.com/govnode/govnode/ledger/lightclient"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

func newVerifyCmd(c *cli) *cobra.Command {
	var hashHex, genesisFile string
	cmd := &cobra.Command{
		Use:   "verify FILE",
		Short: "Verify a record's proof bundle offline, against the chain's genesis hash (--genesis-hash) or genesis file (--genesis)",
		Long: `verify checks a proof bundle (written by query record --bundle, or the portal) with no
network: the record, every version of it, its access log, the headers and commit
certificates they rest on and the validator-set changes since genesis, trusting nothing
but the genesis given. It exits 0 only if every proof holds; otherwise it names each
part that failed and why.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			trusted, source, err := verifyTrust(hashHex, genesisFile)
			if err != nil {
				return err
			}
			raw, err := readBundleFile(args[0])
			if err != nil {
				return err
			}
			rep, verr := lightclient.VerifyBundle(raw, trusted)
			if err := c.printReport(cmd.OutOrStdout(), rep, source); err != nil {
				return err
			}
			if verr != nil {
				return fmt.Errorf("%s: %w", args[0], verr)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&hashHex, "genesis-hash", "", "the chain's genesis hash (`HEX`, 64 digits), as govnode status and the portal show it")
	cmd.Flags().StringVar(&genesisFile, "genesis", "", "the chain's genesis `FILE`, whose hash is trusted instead of --genesis-hash")
	return cmd
}

// verifyTrust is the genesis hash verify trusts, from exactly one of its
// flags, and how to name it.
func verifyTrust(hashHex, genesisFile string) ([]byte, string, error) {
	switch {
	case hashHex != "" && genesisFile != "":
		return nil, "", errors.New("give --genesis-hash or --genesis, not both")
	case hashHex != "":
		h, err := hex.DecodeString(strings.TrimSpace(hashHex))
		if err != nil || len(h) != 32 {
			return nil, "", fmt.Errorf("--genesis-hash: want 64 hex digits, got %q", hashHex)
		}
		return h, "--genesis-hash", nil
	case genesisFile != "":
		doc, err := readBounded(genesisFile, lightclient.MaxGenesisBytes)
		if err != nil {
			return nil, "", fmt.Errorf("--genesis: %w", err)
		}
		h, err := lightclient.GenesisHash(doc)
		if err != nil {
			return nil, "", fmt.Errorf("--genesis %s: %w", genesisFile, err)
		}
		return h, genesisFile, nil
	}
	return nil, "", errors.New("verify trusts nothing but the chain's genesis: give --genesis-hash HEX or --genesis FILE")
}

// readBundleFile reads a bundle, refusing a file above
// lightclient.MaxBundleBytes before reading it all.
func readBundleFile(path string) ([]byte, error) {
	b, err := readBounded(path, lightclient.MaxBundleBytes)
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	return b, nil
}

// readBounded reads at most max bytes of path, and refuses a larger file.
func readBounded(path string, max int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, int64(max)+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, max)
	}
	return b, nil
}

// printReport prints a verification report: the Report itself as JSON
// with --output json, else a summary of what verified and each failure.
func (c *cli) printReport(w io.Writer, rep *lightclient.Report, source string) error {
	if c.output == "json" {
		return writeJSON(w, rep)
	}
	ms := func(t int64) string { return time.UnixMilli(t).UTC().Format(time.RFC3339) }
	if rep.ChainID != "" {
		fmt.Fprintf(w, "chain %s, genesis %s (trusted: %s)\n", termText(rep.ChainID), rep.GenesisHash, termText(source))
	}
	if r := rep.Record; r != nil {
		fmt.Fprintf(w, "record %s (%s), subject %s, holder %s, issued by %s: %s, version %d, at state height %d\n",
			termText(r.ID), termText(r.RecordType), termText(r.SubjectID), termText(r.HolderID), termText(r.IssuerDepartmentID),
			r.Status, r.Version, rep.Height)
		if r.ErasedHeight > 0 {
			fmt.Fprintf(w, "its protected content was erased at height %d\n", r.ErasedHeight)
		}
		v := rep.Validators
		fmt.Fprintf(w, "proven under block %d, certified by the validator set in force there (%d validators), reached from the genesis set through %d validator-set change(s)\n",
			v.Height, len(v.Keys), v.SetsFollowed)
	}
	if len(rep.Versions) > 0 {
		fmt.Fprintf(w, "versions (%d):\n", len(rep.Versions))
		for _, v := range rep.Versions {
			fmt.Fprintf(w, "  %d  %s by %s (%s) at %s, height %d", v.Version, termText(v.Action), termText(v.AuthorID),
				termText(v.AuthorDepartmentID), ms(v.TimeUnixMs), v.Height)
			if v.ProvenHeight != v.Height {
				fmt.Fprintf(w, " (proven at %d)", v.ProvenHeight)
			}
			fmt.Fprintln(w)
			fmt.Fprintf(w, "     content hash %s", v.ContentHash)
			if v.ContentType != "" {
				fmt.Fprintf(w, ", %s", termText(v.ContentType))
			}
			if v.Content != nil {
				fmt.Fprintf(w, ", %d bytes of public content", len(v.Content))
			}
			if v.Reason != "" {
				fmt.Fprintf(w, ", reason: %s", termText(v.Reason))
			}
			fmt.Fprintf(w, ", holder %s, tx %s\n", termText(v.HolderID), v.TxHash)
		}
	}
	if rep.Record != nil && (rep.OK || len(rep.Access) > 0) {
		fmt.Fprintf(w, "access log (%d entries):\n", len(rep.Access))
		for _, a := range rep.Access {
			fmt.Fprintf(w, "  %d  %s (%s) at %s, height %d: purpose %s", a.Seq, termText(a.AccessorID), termText(a.DepartmentID),
				ms(a.TimeUnixMs), a.Height, termText(a.Purpose))
			if a.LegalBasis != "" {
				fmt.Fprintf(w, ", legal basis %s", termText(a.LegalBasis))
			}
			if a.GrantID != "" {
				fmt.Fprintf(w, ", grant %s", termText(a.GrantID))
			}
			if a.Channel != "" {
				fmt.Fprintf(w, ", via %s", termText(a.Channel))
			}
			fmt.Fprintln(w)
		}
	}
	if rep.OK {
		fmt.Fprintln(w, "VERIFIED: every proof in the bundle holds")
		return nil
	}
	fmt.Fprintf(w, "NOT VERIFIED: %d failure(s)\n", len(rep.Failures))
	for _, f := range rep.Failures {
		fmt.Fprintf(w, "  %s: %s\n", termText(f.Part), termText(f.Reason))
	}
	return nil
}

// writeRecordBundle is `query record ID --bundle FILE`: it fetches the
// bundle, verifies it against the genesis --prove trusts (--genesis,
// --testnet's, the home's; without one, against the genesis the bundle
// carries, with a warning: the bundle is then only consistent, and its
// genesis hash must be checked by hand), and only then writes it, mode
// 0644, through a temporary file in the same directory.
func (c *cli) writeRecordBundle(cmd *cobra.Command, n *nodeConn, cf *clientFlags, pf *proveFlags, id string, height uint64, path string) error {
	anchor, err := c.anchor(cmd, pf)
	if err != nil {
		return err
	}
	ctx, cancel := cf.callCtx(cmd)
	defer cancel()
	raw, err := fetchBundle(ctx, n, id, height)
	if err != nil {
		return err
	}
	var trusted []byte
	source := ""
	if anchor != nil {
		trusted, source = anchor.GenesisHash, anchor.Source
	} else {
		b := &pb.ProofBundle{}
		if err := proto.Unmarshal(raw, b); err != nil {
			return fmt.Errorf("bundle of record %s: %w", id, err)
		}
		trusted, _ = lightclient.GenesisHash(b.GetGenesis())
		source = "the genesis in the bundle (not independently anchored)"
		warn(cmd, "no genesis to anchor the bundle: it is checked against the genesis it carries, hash %x; compare that hash with the chain's, or give --genesis FILE", trusted)
	}
	// A bundle that verifies proves what it names: it must be the one
	// asked for, of this record at this height (0: the newest), not
	// another record's or another height's.
	rep, verr := lightclient.VerifyBundleOf(raw, trusted, id, height)
	if verr != nil {
		_ = c.printReport(cmd.OutOrStdout(), rep, source)
		return fmt.Errorf("the bundle of record %s from %s was not written: %w", termText(id), n.url, verr)
	}
	if err := writeFileAtomic(path, raw, 0o644); err != nil {
		return err
	}
	if c.output == "json" {
		return writeJSON(cmd.OutOrStdout(), map[string]any{"file": path, "bytes": len(raw), "verification": rep})
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "wrote %s (%d bytes): record %s, %d version(s), %d access entr%s, at state height %d\n",
		path, len(raw), termText(id), len(rep.Versions), len(rep.Access), map[bool]string{true: "y", false: "ies"}[len(rep.Access) == 1], rep.Height)
	fmt.Fprintf(w, "verified against %s (genesis %s); check it anywhere with:\n  govnode verify %s --genesis-hash %s\n",
		termText(source), rep.GenesisHash, path, rep.GenesisHash)
	return nil
}

// fetchBundle asks the node for record id's bundle, serialized.
func fetchBundle(ctx context.Context, n *nodeConn, id string, height uint64) ([]byte, error) {
	raw, err := n.sdk.GetRecordBundle(ctx, id, height)
	if ce := (*client.CallError)(nil); errors.As(err, &ce) {
		return nil, rpcError("get record bundle "+id, n, err)
	}
	return raw, err
}

// writeFileAtomic writes data to path with mode perm through a temporary
// file in its directory and a rename: a reader never sees half a bundle.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	if werr == nil {
		werr = f.Chmod(perm)
	}
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp, path)
	}
	if werr != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, werr)
	}
	return nil
}
