package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/spf13/cobra"

	"github.com/govnode/govnode/client"
	"github.com/govnode/govnode/ledger/exec"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// eventsOpts are the flags of `govnode events`.
type eventsOpts struct {
	from, to  uint64
	reconnect bool
	// Filters (StreamEventsRequest): record types, departments, subjects.
	recordTypes, departments, subjects []string
	ask                                contentAskFlags
	// callTimeout bounds the reads that check released contents.
	callTimeout time.Duration
}

// maxEventFilter is the most ids one filter of StreamEvents takes.
const maxEventFilter = 32

// checkFilters validates the filters: each at most maxEventFilter ids,
// each a valid id.
func (o *eventsOpts) checkFilters() error {
	for _, f := range []struct {
		flag string
		ids  []string
	}{{"record-type", o.recordTypes}, {"department", o.departments}, {"subject", o.subjects}} {
		if len(f.ids) > maxEventFilter {
			return fmt.Errorf("--%s: %d ids, at most %d", f.flag, len(f.ids), maxEventFilter)
		}
		for _, id := range f.ids {
			if err := exec.ValidID(id); err != nil {
				return fmt.Errorf("--%s %q: %v", f.flag, id, err)
			}
		}
	}
	return o.ask.check()
}

// request is the StreamEvents request from height from.
func (o *eventsOpts) request(from uint64) *pb.StreamEventsRequest {
	return &pb.StreamEventsRequest{FromHeight: from, RecordTypes: o.recordTypes, DepartmentIds: o.departments, SubjectIds: o.subjects,
		IncludeContent: o.ask.content, Purpose: o.ask.purpose, LegalBasis: o.ask.legal}
}

func newEventsCmd(c *cli) *cobra.Command {
	cf := &clientFlags{}
	o := &eventsOpts{}
	cmd := &cobra.Command{
		Use:   "events --from HEIGHT",
		Short: "Stream committed events, one line each (JSON lines with --output json)",
		Long: `Events follows StreamEvents from --from on, printing one line per event
(--output json: one JSON object per line, with height, block_hash, tx_hash,
tx_index, event_index, type and the event's fields). The stream delivers
whole blocks, so after a disconnect it resumes at the block after the last one
printed, and a consumer that stops can resume with --from LAST+1 without gaps
or duplicates. --to stops after that height; Ctrl-C stops cleanly.

--record-type, --department and --subject (each repeatable or a comma list,
at most 32 ids) keep only the record events of those types, issuing or acting
departments and subjects. With --content (and --purpose, an authenticated
--signer over https) the node also sends the content of the protected records
of the events the caller is entitled to, once it has logged the release on
chain; each content is checked against its version's content_hash and printed
after the block's events (--output json: a line of type "content").`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.to > 0 && o.to < o.from {
				return fmt.Errorf("--to %d is below --from %d", o.to, o.from)
			}
			if err := o.checkFilters(); err != nil {
				return err
			}
			o.callTimeout = cf.timeout
			n, err := c.connect(cf)
			if err != nil {
				return err
			}
			if err := o.ask.needAuthenticated(cf, n); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			return c.followEvents(ctx, cmd, n, o)
		},
	}
	cmd.Flags().Uint64Var(&o.from, "from", 1, "first height to stream")
	cmd.Flags().Uint64Var(&o.to, "to", 0, "stop after this height (0: follow forever)")
	cmd.Flags().BoolVar(&o.reconnect, "reconnect", true, "reconnect and resume when the stream breaks")
	cmd.Flags().StringSliceVar(&o.recordTypes, "record-type", nil, "only record events of these record types (repeatable, or a comma list)")
	cmd.Flags().StringSliceVar(&o.departments, "department", nil, "only record events whose issuing or acting department is one of these")
	cmd.Flags().StringSliceVar(&o.subjects, "subject", nil, "only record events about these subjects")
	o.ask.bind(cmd)
	addClientFlags(cmd, cf)
	return cmd
}

// certRenewGap is how long a stream must have run on a client certificate
// before an Unauthenticated end is taken for its expiry and answered with
// a new connection (a fresh certificate); an Unauthenticated answer sooner
// after a renewal is the node refusing the identity, and final
// (client.FollowOptions.RenewGap).
var certRenewGap = 10 * time.Second

// followEvents prints the blocks the SDK's Follow delivers (each once, in
// order, resumed after a break at the block after the last one printed)
// until --to or the context's end.
func (c *cli) followEvents(ctx context.Context, cmd *cobra.Command, n *nodeConn, o *eventsOpts) error {
	w := cmd.OutOrStdout()
	versions := n.sdk.NewContentChecker(client.ContentOptions{}) // the node's committed versions
	fo := client.FollowOptions{NoReconnect: !o.reconnect, RenewGap: certRenewGap,
		OnReconnect: func(err error, next uint64, wait time.Duration) {
			if wait == 0 {
				// The node ends an authenticated stream when its client
				// certificate expires (each connection's is short-lived):
				// a new connection issues a fresh one.
				warn(cmd, "event stream ended (%v); reconnecting with a fresh client certificate, resuming at height %d", err, next)
				return
			}
			warn(cmd, "event stream broke (%v); resuming at height %d in %s", err, next, wait)
		}}
	for m, err := range n.sdk.Follow(ctx, o.request(o.from), fo) {
		if err != nil {
			var fe *client.FollowError
			if errors.As(err, &fe) {
				return fmt.Errorf("%w (resume with --from %d)", rpcError("stream events", n, fe.Err), fe.Next)
			}
			return err
		}
		if o.to > 0 && m.GetHeight() > o.to {
			return nil
		}
		for _, e := range m.GetEvents() {
			v := eventView(e, m.GetBlockHash())
			if c.output == "json" {
				b, err := v.MarshalJSON()
				if err != nil {
					return err
				}
				fmt.Fprintf(w, "%s\n", termJSON(b))
			} else {
				fmt.Fprintln(w, eventLine(v))
			}
		}
		if err := c.printStreamContents(ctx, w, n, versions, o, m); err != nil {
			return fmt.Errorf("%w (resume with --from %d)", err, m.GetHeight())
		}
		if o.to > 0 && m.GetHeight() >= o.to {
			return nil
		}
	}
	return nil // the context ended: Ctrl-C
}

// printStreamContents checks the contents of a block's answer against
// their versions' content_hash and prints them: in text, each after an
// "access logged" line; in JSON, one line of type "content" each, with
// the access receipt that released it. A content that does not match is
// an error (nothing of it is printed).
func (c *cli) printStreamContents(ctx context.Context, w io.Writer, n *nodeConn, vs *client.ContentChecker, o *eventsOpts, m *pb.StreamEventsResponse) error {
	if len(m.GetContents()) == 0 {
		return nil
	}
	var checked []checkedContent
	for _, rc := range m.GetContents() {
		cctx, cancel := ctx, context.CancelFunc(func() {})
		if o.callTimeout > 0 {
			cctx, cancel = context.WithTimeout(ctx, o.callTimeout)
		}
		hash, err := vs.Check(cctx, rc)
		cancel()
		if err != nil {
			return fmt.Errorf("block %d: %w", m.GetHeight(), contentErr(n, err))
		}
		checked = append(checked, checkedContent{rc: rc, hash: hash})
	}
	if c.output != "json" {
		if a := m.GetAccess(); a != nil {
			fmt.Fprintf(w, "height %d access logged on chain: tx %x at height %d\n", m.GetHeight(), a.GetTxHash(), a.GetHeight())
		}
		for _, cc := range checked {
			writeContentText(w, cc)
		}
		return nil
	}
	for _, cv := range contentsView(checked) {
		v := viewV{}.with("height", m.GetHeight()).with("block_hash", hex.EncodeToString(m.GetBlockHash())).
			with("type", "content").with("content", cv)
		if a := m.GetAccess(); a != nil {
			v = v.with("access", accessReceiptView(a))
		}
		b, err := v.MarshalJSON()
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%s\n", termJSON(b))
	}
	return nil
}
