package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// eventsOpts are the flags of `govnode events`.
type eventsOpts struct {
	from, to  uint64
	reconnect bool
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
or duplicates. --to stops after that height; Ctrl-C stops cleanly.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.to > 0 && o.to < o.from {
				return fmt.Errorf("--to %d is below --from %d", o.to, o.from)
			}
			n, err := c.connect(cf)
			if err != nil {
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
	addClientFlags(cmd, cf)
	return cmd
}

// retryable says whether a broken stream is worth resuming.
func retryable(err error) bool {
	switch connect.CodeOf(err) {
	case connect.CodeInvalidArgument, connect.CodeNotFound, connect.CodeUnimplemented,
		connect.CodePermissionDenied, connect.CodeUnauthenticated, connect.CodeFailedPrecondition, connect.CodeOutOfRange:
		return false
	}
	return true
}

// certRenewGap is how long a stream must have run on a client certificate
// before an Unauthenticated end is taken for its expiry and answered with
// a new connection (a fresh certificate); an Unauthenticated answer sooner
// after a renewal is the node refusing the identity, and final.
var certRenewGap = 10 * time.Second

func (c *cli) followEvents(ctx context.Context, cmd *cobra.Command, n *nodeConn, o *eventsOpts) error {
	next := o.from
	backoff := 250 * time.Millisecond
	w := cmd.OutOrStdout()
	since := time.Now() // the current connection's client certificate is from then on
	for {
		stream, err := n.client.StreamEvents(ctx, connect.NewRequest(&pb.StreamEventsRequest{FromHeight: next}))
		if err == nil {
			for stream.Receive() {
				m := stream.Msg()
				if m.GetHeight() < next {
					continue // a block already printed, resent after a resume
				}
				if o.to > 0 && m.GetHeight() > o.to {
					stream.Close()
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
				next = m.GetHeight() + 1
				backoff = 250 * time.Millisecond
				if o.to > 0 && m.GetHeight() >= o.to {
					stream.Close()
					return nil
				}
			}
			err = stream.Err()
			stream.Close()
		}
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			err = errors.New("stream ended")
		}
		// The node ends an authenticated stream when its client
		// certificate expires (each connection's is short-lived): a new
		// connection issues a fresh one.
		if o.reconnect && n.authenticated && n.hc != nil && connect.CodeOf(err) == connect.CodeUnauthenticated && time.Since(since) >= certRenewGap {
			warn(cmd, "event stream ended (%v); reconnecting with a fresh client certificate, resuming at height %d", err, next)
			n.hc.CloseIdleConnections()
			since = time.Now()
			continue
		}
		if !o.reconnect || !retryable(err) {
			return fmt.Errorf("%w (resume with --from %d)", rpcError("stream events", n, err), next)
		}
		warn(cmd, "event stream broke (%v); resuming at height %d in %s", err, next, backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}
