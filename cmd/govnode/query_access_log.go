package main

// `govnode query access-log`: who read a record's content, or any record
// of a subject (ARCHITECTURE.md §5, "Who can read what"). Every entry is
// printed with all its fields; --prove checks each entry against a
// committed header, as `query ... --prove` checks an object (its key is
// exec.AccessEntryKey(record, seq)).

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/govnode/govnode/client"
	"github.com/govnode/govnode/ledger/exec"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// maxAccessLogEntries bounds what `query access-log --limit 0` gathers.
const maxAccessLogEntries = 1_000_000

func newQueryAccessLogCmd(c *cli) *cobra.Command {
	cf, pf := &clientFlags{}, &proveFlags{}
	var record, subject string
	var limit uint32
	cmd := c.queryCommand("access-log (--record ID | --subject ID)", "Show who accessed a record, or every record of a subject (--prove: each entry proven)", cobra.NoArgs, cf,
		func(cmd *cobra.Command, n *nodeConn, args []string) error {
			ctx, cancel := cf.callCtx(cmd)
			defer cancel()
			// --limit 0 reads every page (the node answers at most 1000
			// entries a page, with a token for the next).
			m := &pb.QueryAccessLogResponse{}
			for token := ""; ; {
				res, err := n.sdk.QueryAccessLog(ctx, &pb.QueryAccessLogRequest{RecordId: record, SubjectId: subject, Limit: limit, Prove: pf.prove, PageToken: token})
				if err != nil {
					return rpcError("query access log", n, err)
				}
				if m.Height == 0 {
					m.Height = res.GetHeight()
				}
				m.Entries = append(m.Entries, res.GetEntries()...)
				m.Proofs = append(m.Proofs, res.GetProofs()...)
				if token = res.GetNextPageToken(); token == "" || limit != 0 {
					break
				}
				if len(m.Entries) >= maxAccessLogEntries {
					return fmt.Errorf("query access log: more than %d entries: read them in pages with --limit", maxAccessLogEntries)
				}
			}
			var proofs []*proofResult
			if pf.prove {
				var err error
				if proofs, err = c.verifyAccessEntries(cmd, n, cf, pf, m); err != nil {
					return err
				}
			}
			if c.output == "json" {
				entries := []any{}
				for i, e := range m.GetEntries() {
					v := accessEntryView(e)
					if proofs != nil {
						v = v.with("proof", proofs[i].view())
					}
					entries = append(entries, v)
				}
				return writeJSON(cmd.OutOrStdout(), viewV{}.with("height", m.GetHeight()).with("entries", entries))
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "%d accesses (state at height %d)\n", len(m.GetEntries()), m.GetHeight())
			for i, e := range m.GetEntries() {
				// Free text is always quoted (%q, termText's quoting) to
				// delimit it in the line; ids only when they need it.
				fmt.Fprintf(w, "  height %d  record %s #%d  by %s", e.GetHeight(), termText(e.GetRecordId()), e.GetSeq(), termText(e.GetAccessorId()))
				if e.GetDepartmentId() != "" {
					fmt.Fprintf(w, " (%s)", termText(e.GetDepartmentId()))
				}
				fmt.Fprintf(w, "  purpose %q", e.GetPurpose())
				if e.GetLegalBasis() != "" {
					fmt.Fprintf(w, "  legal basis %q", e.GetLegalBasis())
				}
				if e.GetGrantId() != "" {
					fmt.Fprintf(w, "  grant %s", termText(e.GetGrantId()))
				}
				if e.GetRecordedBy() != "" {
					fmt.Fprintf(w, "  released by %s's node (%s)", termText(e.GetRecordedBy()), termText(e.GetChannel()))
				}
				fmt.Fprintf(w, "  tx %x\n", e.GetTxHash())
				if proofs != nil {
					fmt.Fprintf(w, "    verified: %s\n", proofs[i])
				}
			}
			return nil
		})
	cmd.Flags().StringVar(&record, "record", "", "record id")
	cmd.Flags().StringVar(&subject, "subject", "", "subject identity id: accesses to all its records")
	cmd.Flags().Uint32Var(&limit, "limit", 0, "at most this many entries (0: all)")
	addProveFlags(cmd, pf)
	cmd.PreRunE = func(*cobra.Command, []string) error {
		if (record == "") == (subject == "") {
			return errors.New("give exactly one of --record and --subject")
		}
		for flag, id := range map[string]string{"record": record, "subject": subject} {
			if id == "" {
				continue
			}
			if err := exec.ValidID(id); err != nil {
				return fmt.Errorf("--%s %q: %v", flag, id, err)
			}
		}
		return nil
	}
	return cmd
}

// accessEntryView is an access entry with every field, empty ones too, so
// scripts find each key in each entry.
func accessEntryView(e *pb.AccessEntry) viewV {
	return viewV{}.with("record_id", e.GetRecordId()).with("seq", e.GetSeq()).
		with("accessor_id", e.GetAccessorId()).with("department_id", e.GetDepartmentId()).
		with("purpose", e.GetPurpose()).with("legal_basis", e.GetLegalBasis()).with("grant_id", e.GetGrantId()).
		with("recorded_by", e.GetRecordedBy()).with("channel", e.GetChannel()).
		with("height", e.GetHeight()).with("time_unix_ms", e.GetTimeUnixMs()).
		with("time", time.UnixMilli(e.GetTimeUnixMs()).UTC().Format(time.RFC3339Nano)).
		with("tx_hash", fmt.Sprintf("%x", e.GetTxHash()))
}

// verifyAccessEntries checks the proof of every entry (one per entry, in
// order): the proven value at exec.AccessEntryKey(record, seq) is the entry
// the node returned, and the proof verifies against the trusted validator
// set (verifyStateProof). Any failure fails the whole answer.
func (c *cli) verifyAccessEntries(cmd *cobra.Command, n *nodeConn, cf *clientFlags, pf *proveFlags, m *pb.QueryAccessLogResponse) ([]*proofResult, error) {
	entries, proofs := m.GetEntries(), m.GetProofs()
	if len(proofs) != len(entries) {
		return nil, proofErr("the node sent %d proofs for %d access entries", len(proofs), len(entries))
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
	out := make([]*proofResult, len(entries))
	for i, e := range entries {
		p := proofs[i]
		what := fmt.Sprintf("access entry %d of record %s", e.GetSeq(), termText(e.GetRecordId()))
		if p == nil {
			return nil, fmt.Errorf("%s: %w", what, proofErr("the node sent no proof"))
		}
		if err := client.ProvenObject(p.GetValue(), e); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		value := p.GetValue()
		if value == nil {
			value = []byte{}
		}
		if out[i], err = verifyStateProof(p, exec.AccessEntryKey(e.GetRecordId(), e.GetSeq()), value, st, anchor); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
	}
	return out, nil
}
