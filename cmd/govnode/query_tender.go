package main

// `govnode query tender` (ARCHITECTURE.md §5, "Tenders"): a tender has no
// call of its own in the API; its state key names it exactly
// (exec.TenderKey), so it is read through QueryState and, with --prove,
// proven like every other state value, its absence too. The view lists
// every field, zero values included, so scripts can rely on it.

import (
	"fmt"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/ledger/exec"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

func newQueryTenderCmd(c *cli) *cobra.Command {
	cf, pf := &clientFlags{}, &proveFlags{}
	cmd := c.queryCommand("tender ID", "Show a tender: status, deadlines, sealed and revealed bids, award", cobra.ExactArgs(1), cf,
		func(cmd *cobra.Command, n *nodeConn, args []string) error {
			id := args[0]
			key := exec.TenderKey(id)
			ctx, cancel := cf.callCtx(cmd)
			defer cancel()
			m, value, err := queryStateValue(ctx, n, "tender "+id, key, pf.prove)
			if err != nil {
				return err
			}
			if value == nil {
				// With --prove, the absence is proven before it is reported.
				proven := ""
				if pf.prove {
					pr, err := c.proveState(cmd, n, cf, pf, m.GetProof(), key, nil)
					if err != nil {
						return err
					}
					proven = fmt.Sprintf("; its absence is proven against block %d", pr.BlockHeight)
				}
				return fmt.Errorf("query tender %s: not_found: no tender %s on chain (height %d)%s", termText(id), termText(id), m.GetHeight(), proven)
			}
			t := &pb.Tender{}
			if err := proto.Unmarshal(value, t); err != nil {
				return fmt.Errorf("tender %s: the node returned a value that does not decode: %w", termText(id), err)
			}
			v := viewV{}.with("height", m.GetHeight()).with("tender", tenderView(t))
			return c.printStateProven(cmd, n, cf, pf, v, m.GetProof(), key, value)
		})
	addProveFlags(cmd, pf)
	return cmd
}

// tenderView shows a tender; leading_bidder is the published rule's
// winner among the bids revealed so far (exec.TenderWinner): after the
// reveal deadline, the one bidder an award may name ("" when no bid is
// valid).
func tenderView(t *pb.Tender) viewV {
	bids := []any{}
	for _, b := range t.GetBids() {
		bids = append(bids, bidView(b))
	}
	leading := ""
	if w, ok := exec.TenderWinner(t); ok {
		leading = w.GetBidderId()
	}
	return viewV{}.with("id", t.GetId()).with("status", t.GetStatus().String()).with("title", t.GetTitle()).
		with("requirements", t.GetRequirements()).
		with("buyer_department_id", t.GetBuyerDepartmentId()).with("buyer_id", t.GetBuyerId()).
		with("budget", t.GetBudget()).
		with("bid_deadline", t.GetBidDeadline()).with("bid_deadline_time", timeText(t.GetBidDeadline())).
		with("reveal_deadline", t.GetRevealDeadline()).with("reveal_deadline_time", timeText(t.GetRevealDeadline())).
		with("scoring", t.GetScoring()).with("template_id", t.GetTemplateId()).
		with("contract_fields", listView(t.GetContractFields())).
		with("bids", bids).with("leading_bidder", leading).
		with("awarded_bidder_id", t.GetAwardedBidderId()).with("contract_id", t.GetContractId()).
		with("published_height", t.GetPublishedHeight()).with("decided_height", t.GetDecidedHeight())
}

// bidView shows a sealed bid by its commitment; a revealed one with its
// terms, whether it counts (void_reason empty) and its score.
func bidView(b *pb.Bid) viewV {
	v := viewV{}.with("bidder_id", b.GetBidderId()).with("commitment", fmt.Sprintf("%x", b.GetCommitment())).
		with("height", b.GetHeight()).with("revealed", b.GetRevealed())
	if !b.GetRevealed() {
		return v
	}
	return v.with("price", b.GetPrice()).with("fields", listView(b.GetFields())).with("salt", fmt.Sprintf("%x", b.GetSalt())).
		with("valid", b.GetVoidReason() == "").with("void_reason", b.GetVoidReason()).with("score", b.GetScore())
}
