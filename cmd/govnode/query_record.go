package main

// `govnode query record`, and the protected contents it can ask for
// (ARCHITECTURE.md §5, "Who can read what"): with --content an
// authenticated, entitled caller gets a protected record's content, which
// the node releases only once an access entry (purpose, legal basis) is
// committed; the answer names that entry's tx. Every content returned is
// checked against its version's content_hash (crypto.CheckPayload) before
// anything is printed.

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/govnode/govnode/client"
	"github.com/govnode/govnode/ledger/exec"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// contentAskFlags are the flags of the calls that can ask for protected content.
type contentAskFlags struct {
	content bool
	purpose string
	legal   string
}

func (f *contentAskFlags) bind(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.content, "content", false, "ask for the protected content (needs --signer, an entitled identity, over https, and --purpose; the release is logged on chain)")
	cmd.Flags().StringVar(&f.purpose, "purpose", "", "with --content: why the content is read (logged on chain with the access)")
	cmd.Flags().StringVar(&f.legal, "legal-basis", "", "with --content: the law or grant the read relies on (logged on chain; needed for an auditor's read)")
}

// check validates the flags before any call.
func (f *contentAskFlags) check() error {
	if !f.content {
		if f.purpose != "" || f.legal != "" {
			return errors.New("--purpose and --legal-basis go with --content")
		}
		return nil
	}
	if err := checkTextFlag("purpose", f.purpose, true); err != nil {
		return fmt.Errorf("%w: every release of protected content is logged on chain with its purpose", err)
	}
	return checkTextFlag("legal-basis", f.legal, false)
}

// needAuthenticated refuses --content on a connection that does not
// authenticate: the node releases protected content to no anonymous
// caller (PermissionDenied), so the CLI says what is missing first.
func (f *contentAskFlags) needAuthenticated(cf *clientFlags, n *nodeConn) error {
	if !f.content || n.authenticated {
		return nil
	}
	if cf.flag("signer") == "" {
		return errors.New("--content: protected content is released only to an authenticated caller, and this one is anonymous: give --signer ID with --key FILE (or --testnet DIR)")
	}
	return fmt.Errorf("--content: protected content is released only to an authenticated caller, and %s is plain http, where every caller is anonymous: use an https:// --node (with --ca FILE), or --testnet DIR", n.url)
}

func newQueryRecordCmd(c *cli) *cobra.Command {
	cf, pf := &clientFlags{}, &proveFlags{}
	var versions bool
	var height uint64
	var ask contentAskFlags
	var bundle string
	cmd := c.queryCommand("record ID", "Show a record (and every version with --versions; a protected record's content with --content; as it was at --height N)", cobra.ExactArgs(1), cf,
		func(cmd *cobra.Command, n *nodeConn, args []string) error {
			id := args[0]
			if err := ask.needAuthenticated(cf, n); err != nil {
				return err
			}
			if bundle != "" {
				return c.writeRecordBundle(cmd, n, cf, pf, id, height, bundle) // verify.go
			}
			ctx, cancel := cf.callCtx(cmd)
			defer cancel()
			res, err := n.sdk.QueryRecord(ctx, &pb.QueryRecordRequest{RecordId: id, WithVersions: versions, Prove: pf.prove,
				IncludeContent: ask.content, Purpose: ask.purpose, LegalBasis: ask.legal, Height: height})
			if err != nil {
				return rpcError("query record "+id, n, err)
			}
			m := res
			if err := checkAnsweredHeight(height, m.GetHeight(), pf, m.GetProof()); err != nil {
				return err
			}
			checked, err := c.checkRecordContents(cmd, n, cf, pf, id, m)
			if err != nil {
				return err
			}
			v := viewV{}.with("height", m.GetHeight()).with("record", msgView(m.GetRecord()))
			if versions {
				v = v.with("versions", listView(m.GetVersions()))
				if pf.prove {
					// The proof is of the record's key: the versions
					// listed beside it are the node's word.
					v = v.with("versions_proven", false)
				}
			}
			if c.output == "json" {
				if ask.content {
					v = v.with("contents", contentsView(checked))
				}
				if a := m.GetAccess(); a != nil {
					v = v.with("access", accessReceiptView(a))
				}
			}
			if err := c.printProven(cmd, n, cf, pf, v, m.GetProof(), exec.RecordKey(id), m.GetRecord()); err != nil {
				return err
			}
			if c.output == "json" {
				return nil
			}
			w := cmd.OutOrStdout()
			if versions && pf.prove {
				fmt.Fprintln(w, "the proof covers the record, not the versions listed: --bundle FILE proves every version")
			}
			if m.GetRecord().GetErasedHeight() > 0 {
				fmt.Fprintln(w, erasedText(m.GetRecord()))
			}
			if a := m.GetAccess(); a != nil {
				fmt.Fprintf(w, "access logged on chain: tx %x at height %d\n", a.GetTxHash(), a.GetHeight())
			}
			for _, cc := range checked {
				writeContentText(w, cc)
			}
			if ask.content && len(checked) == 0 && m.GetRecord().GetErasedHeight() == 0 {
				fmt.Fprintln(w, "no protected content returned (a public record's content is in its versions: --versions)")
			}
			return nil
		})
	cmd.Flags().BoolVar(&versions, "versions", false, "list every version, oldest first (with --content: every version's content)")
	addHeightFlag(cmd, &height)
	ask.bind(cmd)
	addProveFlags(cmd, pf)
	cmd.Flags().StringVar(&bundle, "bundle", "", "write the record's proof bundle (every version, its access log, their proofs) to `FILE`, verified first against the genesis --prove trusts; check it offline with govnode verify")
	cmd.PreRunE = func(*cobra.Command, []string) error {
		if bundle != "" && (ask.content || versions) {
			return errors.New("--bundle holds every version and what the state holds of it (a protected record's content hash, not its content): not with --content or --versions")
		}
		return ask.check()
	}
	return cmd
}

// checkedContent is a released content that matched its version's
// content_hash.
type checkedContent struct {
	rc   *pb.RecordContent
	hash []byte
}

// checkRecordContents checks every content of a QueryRecord answer for
// record id against its version's content_hash (client.ContentChecker):
// from the answer's versions, else read from committed state (with
// --prove, proven too). A content for another record, or one that does
// not match, is an error: nothing of the answer is printed.
func (c *cli) checkRecordContents(cmd *cobra.Command, n *nodeConn, cf *clientFlags, pf *proveFlags, id string, m *pb.QueryRecordResponse) ([]checkedContent, error) {
	if len(m.GetContents()) == 0 {
		return nil, nil
	}
	vs, err := c.contentChecker(cmd, n, cf, pf)
	if err != nil {
		return nil, err
	}
	vs.Know(id, m.GetVersions())
	var out []checkedContent
	for _, rc := range m.GetContents() {
		if rc.GetRecordId() != id {
			return nil, fmt.Errorf("query record %s: the node returned the content of record %s", termText(id), termText(rc.GetRecordId()))
		}
		ctx, cancel := cf.callCtx(cmd)
		hash, err := vs.Check(ctx, rc)
		cancel()
		if err != nil {
			return nil, contentErr(n, err)
		}
		out = append(out, checkedContent{rc: rc, hash: hash})
	}
	return out, nil
}

// contentChecker is the SDK's checker of released contents, proving the
// versions it reads with --prove against the genesis --prove trusts.
func (c *cli) contentChecker(cmd *cobra.Command, n *nodeConn, cf *clientFlags, pf *proveFlags) (*client.ContentChecker, error) {
	if pf == nil || !pf.prove {
		return n.sdk.NewContentChecker(client.ContentOptions{}), nil
	}
	anchor, err := c.anchor(cmd, pf)
	if err != nil {
		return nil, err
	}
	ctx, cancel := cf.callCtx(cmd)
	st, err := n.status(ctx)
	cancel()
	if err != nil {
		return nil, err
	}
	return n.sdk.NewContentChecker(client.ContentOptions{Prove: true, Anchor: anchor, ChainID: st.GetChainId()}), nil
}

// contentErr is a content check's error, a failed read as the CLI says it.
func contentErr(n *nodeConn, err error) error {
	if ce := (*client.CallError)(nil); errors.As(err, &ce) {
		return rpcError(ce.Op, n, err)
	}
	return err
}

// contentsView is the JSON of checked contents (never null): bytes in
// hex like every view, and the content as text too when it is UTF-8.
func contentsView(cs []checkedContent) []any {
	out := []any{}
	for _, cc := range cs {
		p := cc.rc.GetPayload()
		v := viewV{}.with("record_id", cc.rc.GetRecordId()).with("version", cc.rc.GetVersion()).
			with("content_hash", hex.EncodeToString(cc.hash)).with("verified", true).
			with("salt", hex.EncodeToString(p.GetSalt())).with("content", hex.EncodeToString(p.GetContent()))
		if utf8.Valid(p.GetContent()) {
			v = v.with("content_text", string(p.GetContent()))
		}
		out = append(out, v)
	}
	return out
}

func accessReceiptView(a *pb.AccessReceipt) viewV {
	return viewV{}.with("tx_hash", hex.EncodeToString(a.GetTxHash())).with("height", a.GetHeight())
}

// writeContentText prints a checked content: a heading, then the content
// indented, each line made safe for the terminal (termLines).
func writeContentText(w io.Writer, cc checkedContent) {
	c := cc.rc.GetPayload().GetContent()
	fmt.Fprintf(w, "content of record %s version %d (%d bytes, matches its content_hash %x):\n", termText(cc.rc.GetRecordId()), cc.rc.GetVersion(), len(c), cc.hash)
	text := strings.TrimSuffix(string(c), "\n")
	for _, l := range strings.Split(text, "\n") {
		fmt.Fprintf(w, "  %s\n", termText(l))
	}
}
