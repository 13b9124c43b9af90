package main

// `govnode query record`, and the protected contents it can ask for
// (ARCHITECTURE.md §5, "Who can read what"): with --content an
// authenticated, entitled caller gets a protected record's content, which
// the node releases only once an access entry (purpose, legal basis) is
// committed; the answer names that entry's tx. Every content returned is
// checked against its version's content_hash (crypto.CheckPayload) before
// anything is printed.

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/client"
	"github.com/govnode/govnode/crypto"
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
// record id against its version's content_hash: from the answer's
// versions, else read from committed state (with --prove, proven too). A
// content for another record, or one that does not match, is an error:
// nothing of the answer is printed.
func (c *cli) checkRecordContents(cmd *cobra.Command, n *nodeConn, cf *clientFlags, pf *proveFlags, id string, m *pb.QueryRecordResponse) ([]checkedContent, error) {
	if len(m.GetContents()) == 0 {
		return nil, nil
	}
	known := map[uint64][]byte{}
	if !pf.prove {
		for _, v := range m.GetVersions() {
			if v.GetRecordId() == id {
				known[v.GetVersion()] = v.GetContentHash()
			}
		}
	}
	vs := &versionSource{n: n, known: map[string][]byte{}}
	if pf.prove {
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
		vs.prove, vs.anchor, vs.chainID = true, anchor, st.GetChainId()
	}
	var out []checkedContent
	for _, rc := range m.GetContents() {
		if rc.GetRecordId() != id {
			return nil, fmt.Errorf("query record %s: the node returned the content of record %s", termText(id), termText(rc.GetRecordId()))
		}
		hash, ok := known[rc.GetVersion()]
		if !ok {
			ctx, cancel := cf.callCtx(cmd)
			var err error
			hash, err = vs.contentHash(ctx, id, rc.GetVersion())
			cancel()
			if err != nil {
				return nil, err
			}
		}
		if err := checkContent(rc, hash); err != nil {
			return nil, err
		}
		out = append(out, checkedContent{rc: rc, hash: hash})
	}
	return out, nil
}

// versionSource reads the content_hash of record versions from committed
// state, once each; with prove, each read is proven against the anchor.
type versionSource struct {
	n       *nodeConn
	known   map[string][]byte
	prove   bool
	anchor  *client.Anchor
	chainID string
}

func (s *versionSource) contentHash(ctx context.Context, id string, version uint64) ([]byte, error) {
	key := exec.RecordVersionKey(id, version)
	if h, ok := s.known[string(key)]; ok {
		return h, nil
	}
	what := fmt.Sprintf("version %d of record %s", version, termText(id))
	res, err := s.n.sdk.QueryState(ctx, &pb.QueryStateRequest{Key: key, Prove: s.prove})
	if err != nil {
		return nil, rpcError("read "+what, s.n, err)
	}
	if !res.GetFound() {
		return nil, fmt.Errorf("the node returned content for %s, which the chain does not have", what)
	}
	v := &pb.RecordVersion{}
	if err := proto.Unmarshal(res.GetValue(), v); err != nil {
		return nil, fmt.Errorf("read %s: the node returned a value that does not decode: %w", what, err)
	}
	if s.prove {
		if _, err := verifyStateProof(res.GetProof(), key, res.GetValue(), s.chainID, s.anchor); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
	}
	s.known[string(key)] = v.GetContentHash()
	return v.GetContentHash(), nil
}

// checkContent checks a released content against its version's
// content_hash, the payload commitment.
func checkContent(rc *pb.RecordContent, hash []byte) error {
	p := rc.GetPayload()
	if err := crypto.CheckPayload(hash, p.GetSalt(), p.GetContent()); err != nil {
		return fmt.Errorf("record %s version %d: the content the node returned does NOT match the version's content_hash %x (%v); it is not shown",
			termText(rc.GetRecordId()), rc.GetVersion(), hash, err)
	}
	return nil
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
