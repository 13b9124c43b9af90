package main

// Tenders (ARCHITECTURE.md §5, "Tenders"): a department publishes a call
// for bids; companies bid sealed, sending only a commitment
// crypto.BidCommitment(tender, bidder, salt, price, fields) before the bid
// deadline; after it they reveal price, fields and salt, which the chain
// checks against the commitment; after the reveal deadline the buyer awards
// the tender to the winner by the published rule, which creates the
// contract with its escrow funded from the buyer's budget.
//
// `tx tender bid` keeps the bid's secret (salt, price, fields) in a file of
// its own (mode 0600, never overwritten), written before the tx is sent:
// the reveal needs it, and nothing on chain can give it back.

import (
	"cmp"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/govnode/govnode/client"
	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/ledger/exec"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// defaultScoring is a tender's rule when --scoring is not given: the
// lowest valid price wins.
const defaultScoring = exec.ScoringLowestPrice

func newTxTenderCmd(c *cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tender",
		Short: "Tender transactions: publish, sealed bid, reveal, award",
		Long: `Tender runs a public procurement with sealed bids (ARCHITECTURE.md §5, "Tenders"):

  publish  an official (issuer or admin) of the buying department opens the
           tender: --budget is the highest price a valid bid may ask, in
           minor units; bids until --bid-deadline, reveals until
           --reveal-deadline (unix seconds, RFC 3339 or +duration);
           --scoring lowest_price or a CEL int expression over price and
           fields, highest wins; the contract is made from --template with
           --field values (its amount field is the winning price).
  bid      a company sends only the commitment of its bid; price, fields and
           a fresh 32-byte salt are written to --secret-file (mode 0600,
           never overwritten), which the reveal needs.
  reveal   after the bid deadline, the bidder opens its bid from the secret
           file, checked against the commitment locally and on chain first.
  award    after the reveal deadline, an official of the buyer names the
           winner by the published rule and the contract id; the contract
           starts active with its escrow funded from the buyer's budget.`,
	}
	cmd.AddCommand(newTxTenderPublishCmd(c), newTxTenderBidCmd(c), newTxTenderRevealCmd(c), newTxTenderAwardCmd(c))
	return cmd
}

func newTxTenderPublishCmd(c *cli) *cobra.Command {
	var id, title, reqs, budget, bidDL, revealDL, scoring, template string
	var fields []string
	return c.txCommand(txSpec{
		use: "publish", short: "Publish a tender (signed by an issuer or admin of the buying department)",
		flags: func(f *pflag.FlagSet) {
			f.StringVar(&id, "id", "", "tender id")
			f.StringVar(&title, "title", "", "title")
			f.StringVar(&reqs, "requirements", "", "what is bought: the requirements bids answer")
			f.StringVar(&budget, "budget", "", "highest price a valid bid may ask, in integer minor units (at most the buyer's budget balance)")
			f.StringVar(&bidDL, "bid-deadline", "", "sealed bids until: unix seconds, RFC 3339 or +duration (e.g. +48h)")
			f.StringVar(&revealDL, "reveal-deadline", "", "reveals until (after --bid-deadline): unix seconds, RFC 3339 or +duration")
			f.StringVar(&scoring, "scoring", defaultScoring, "lowest_price, or a CEL int expression over price and fields (highest wins; ties: earliest bid)")
			f.StringVar(&template, "template", exec.TenderTemplateID, "contract template of the awarded contract (a money template)")
			f.StringSliceVar(&fields, "field", nil, "contract field name=value, typed like tx contract create --field (repeatable; not the amount field)")
		},
		required: []string{"id", "title", "budget", "bid-deadline", "reveal-deadline"},
		build: func([]string) (func(*pb.TxBody), error) {
			a, err := publishTenderArgs(id, title, reqs, budget, bidDL, revealDL, scoring, template, fields, time.Now())
			if err != nil {
				return nil, err
			}
			return func(b *pb.TxBody) { b.Action = &pb.TxBody_PublishTender{PublishTender: a} }, nil
		},
	})
}

// publishTenderArgs checks publish's flags as far as the client can (the
// chain checks the rest: the buyer's budget, the template, the scoring
// expression) and builds the action. now is the client's clock, for the
// deadlines: the chain wants the bid deadline after its block time.
func publishTenderArgs(id, title, reqs, budget, bidDL, revealDL, scoring, template string, fields []string, now time.Time) (*pb.PublishTender, error) {
	if err := exec.ValidID(id); err != nil {
		return nil, fmt.Errorf("--id %q: %w", id, err)
	}
	if strings.TrimSpace(title) == "" {
		return nil, errors.New("--title is required and must not be blank")
	}
	if len(title) > exec.MaxNameBytes {
		return nil, fmt.Errorf("--title is %d bytes, limit %d", len(title), exec.MaxNameBytes)
	}
	if len(reqs) > exec.MaxRequirementsBytes {
		return nil, fmt.Errorf("--requirements is %d bytes, limit %d", len(reqs), exec.MaxRequirementsBytes)
	}
	n, err := parseAmount("budget", budget)
	if err != nil {
		return nil, err
	}
	bidAt, err := parseDeadline("bid-deadline", bidDL)
	if err != nil {
		return nil, err
	}
	revealAt, err := parseDeadline("reveal-deadline", revealDL)
	if err != nil {
		return nil, err
	}
	if bidAt <= now.Unix() {
		return nil, fmt.Errorf("--bid-deadline %s is not in the future (now is %s)", unixText(bidAt), unixText(now.Unix()))
	}
	if revealAt <= bidAt {
		return nil, fmt.Errorf("--reveal-deadline %s must come after --bid-deadline %s", unixText(revealAt), unixText(bidAt))
	}
	scoring = strings.TrimSpace(scoring)
	if scoring == "" {
		return nil, errors.New("--scoring is empty: want lowest_price or a CEL int expression over price and fields")
	}
	if err := exec.ValidID(template); err != nil {
		return nil, fmt.Errorf("--template %q: %w", template, err)
	}
	fs, err := parseFields("field", fields)
	if err != nil {
		return nil, err
	}
	return &pb.PublishTender{
		TenderId: id, Title: title, Requirements: reqs, Budget: n, BidDeadline: bidAt, RevealDeadline: revealAt,
		Scoring: scoring, TemplateId: template, ContractFields: fs,
	}, nil
}

// parseDeadline is parseTime for a required deadline.
func parseDeadline(flag, s string) (int64, error) {
	if strings.TrimSpace(s) == "" {
		return 0, fmt.Errorf("--%s is required: unix seconds, RFC 3339 or +duration", flag)
	}
	return parseTime(flag, strings.TrimSpace(s))
}

// unixText shows unix seconds with their UTC time.
func unixText(sec int64) string {
	return fmt.Sprintf("%d (%s)", sec, time.Unix(sec, 0).UTC().Format(time.RFC3339))
}

func newTxTenderBidCmd(c *cli) *cobra.Command {
	var tender, price, secretFile string
	var fields []string
	var (
		secret  *client.SealedBid
		action  *pb.SubmitBid
		written bool
	)
	return c.txCommand(txSpec{
		use: "bid", short: "Send a sealed bid (signed by a company): only its commitment goes on chain",
		flags: func(f *pflag.FlagSet) {
			f.StringVar(&tender, "tender", "", "tender id")
			f.StringVar(&price, "price", "", "the price asked, in integer minor units")
			f.StringSliceVar(&fields, "field", nil, "bid field name=value, typed like tx contract create --field (repeatable)")
			f.StringVar(&secretFile, "secret-file", "", "write the bid's secret (salt, price, fields) here, mode 0600, for the reveal; never overwritten")
		},
		required: []string{"tender", "price"},
		build: func([]string) (func(*pb.TxBody), error) {
			if err := exec.ValidID(tender); err != nil {
				return nil, fmt.Errorf("--tender %q: %w", tender, err)
			}
			n, err := parseAmount("price", price)
			if err != nil {
				return nil, err
			}
			fs, err := parseFields("field", fields)
			if err != nil {
				return nil, err
			}
			if err := checkSecretPath(secretFile); err != nil {
				return nil, err
			}
			// The suite is set when the signing key is known (signed).
			if secret, err = client.NewSealedBid(crypto.Ed25519SHA256, tender, "", n, fs); err != nil {
				return nil, err
			}
			action = &pb.SubmitBid{TenderId: tender}
			return func(b *pb.TxBody) { b.Action = &pb.TxBody_SubmitBid{SubmitBid: action} }, nil
		},
		// The commitment binds the bidder: the signer.
		signed: func(s signing) error {
			secret.CryptoSuite = s.Suite.HeaderName()
			if err := secret.Seal(s.Signer); err != nil {
				return err
			}
			bid, err := secret.Bid()
			if err != nil {
				return err
			}
			action.Commitment = bid.GetSubmitBid().GetCommitment()
			return nil
		},
		// The tender must be open; the secret is on disk before the tx
		// leaves: a bid whose secret were lost could never be revealed.
		prepare: func(ctx context.Context, n *nodeConn, body *pb.TxBody) error {
			t := &pb.Tender{}
			found, err := n.stateMsg(ctx, "tender "+tender, exec.TenderKey(tender), t)
			if err != nil {
				return err
			}
			if !found {
				return fmt.Errorf("tender %s is not on chain", termText(tender))
			}
			if t.GetStatus() != pb.TenderStatus_TENDER_STATUS_OPEN {
				return fmt.Errorf("tender %s is %s: it takes no bids", termText(tender), t.GetStatus())
			}
			secret.ChainID = body.GetChainId()
			if err := writeBidSecret(secretFile, secret); err != nil {
				return err
			}
			written = true
			return nil
		},
		after: func(cmd *cobra.Command, err error) error {
			switch {
			case !written:
				return err
			case err != nil:
				return fmt.Errorf("%w (the bid's secret was written to %s before sending: if the bid is not on chain, delete that file before bidding again)", err, secretFile)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "the bid's secret is in %s: keep it, and after the bid deadline reveal the bid with: govnode tx tender reveal --secret-file %s\n", secretFile, secretFile)
			return nil
		},
	})
}

func newTxTenderRevealCmd(c *cli) *cobra.Command {
	var secretFile string
	var secret *client.SealedBid
	return c.txCommand(txSpec{
		use: "reveal", short: "Reveal a sealed bid from its secret file (signed by the bidder)",
		flags: func(f *pflag.FlagSet) {
			f.StringVar(&secretFile, "secret-file", "", "the file tx tender bid wrote")
		},
		build: func([]string) (func(*pb.TxBody), error) {
			s, a, err := readBidSecret(secretFile)
			if err != nil {
				return nil, err
			}
			secret = s
			return func(b *pb.TxBody) { b.Action = &pb.TxBody_RevealBid{RevealBid: a} }, nil
		},
		signed: func(s signing) error {
			if s.Signer != secret.Bidder {
				return fmt.Errorf("--signer %s: the secret file %s holds the bid of %s, and only the bidder reveals it", termText(s.Signer), secretFile, termText(secret.Bidder))
			}
			if secret.CryptoSuite != s.Suite.HeaderName() {
				return fmt.Errorf("--secret-file %s: the bid was sealed on a %s chain, the key signs for a %s chain", secretFile, termText(cmp.Or(secret.CryptoSuite, crypto.SuiteNameEd25519SHA256)), s.Suite)
			}
			return nil
		},
		// The bid on chain must be the one the file opens.
		prepare: func(ctx context.Context, n *nodeConn, body *pb.TxBody) error {
			if secret.ChainID != "" && secret.ChainID != body.GetChainId() {
				return fmt.Errorf("--secret-file %s: the bid was sent on chain %s, the node is of chain %s", secretFile, termText(secret.ChainID), termText(body.GetChainId()))
			}
			return checkBidOnChain(ctx, n, secret)
		},
	})
}

func newTxTenderAwardCmd(c *cli) *cobra.Command {
	var tender, bidder, contract string
	return c.txCommand(txSpec{
		use: "award", short: "Award a tender to the winner by its rule, creating the contract (signed by an official of the buyer)",
		flags: func(f *pflag.FlagSet) {
			f.StringVar(&tender, "tender", "", "tender id")
			f.StringVar(&bidder, "bidder", "", "the winning company (the chain refuses any other)")
			f.StringVar(&contract, "contract", "", "id of the contract the award creates")
		},
		required: []string{"tender", "bidder", "contract"},
		build: func([]string) (func(*pb.TxBody), error) {
			for _, f := range []struct{ flag, v string }{{"tender", tender}, {"bidder", bidder}, {"contract", contract}} {
				if err := exec.ValidID(f.v); err != nil {
					return nil, fmt.Errorf("--%s %q: %w", f.flag, f.v, err)
				}
			}
			a := &pb.AwardTender{TenderId: tender, BidderId: bidder, ContractId: contract}
			return func(b *pb.TxBody) { b.Action = &pb.TxBody_AwardTender{AwardTender: a} }, nil
		},
	})
}

// ------------------------------------------------------------ the secret file

// The secret file of a sealed bid is the JSON form of client.SealedBid:
// what RevealBid sends, and the commitment the bid sent.

// checkSecretPath refuses a secret file that exists (a bid's secret is
// never overwritten) or whose directory does not.
func checkSecretPath(path string) error {
	if path == "" {
		return errors.New("--secret-file is required: the bid's secret (salt, price, fields) is written there, and revealing the bid needs it")
	}
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("--secret-file %s exists: a bid's secret is never overwritten (the bid it holds may still need revealing); choose another file", path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("--secret-file: %w", err)
	}
	if st, err := os.Stat(filepath.Dir(path)); err != nil || !st.IsDir() {
		return fmt.Errorf("--secret-file %s: its directory %s does not exist", path, filepath.Dir(path))
	}
	return nil
}

// writeBidSecret creates path (mode 0600, refusing an existing file) with
// the secret; a partial file is removed.
func writeBidSecret(path string, s *client.SealedBid) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("--secret-file %s exists: a bid's secret is never overwritten; choose another file", path)
		}
		return fmt.Errorf("--secret-file: %w", err)
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("--secret-file %s: %w (nothing was sent)", path, err)
	}
	return nil
}

// readBidSecret reads and checks a secret file: well formed, and the bid
// it holds matches the commitment it records (a changed file would be
// refused by the chain; nothing is sent). It returns the reveal.
func readBidSecret(path string) (*client.SealedBid, *pb.RevealBid, error) {
	if path == "" {
		return nil, nil, errors.New("--secret-file is required: the file tx tender bid wrote")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("--secret-file: %w", err)
	}
	s := &client.SealedBid{}
	if err := decodeJSONStrict(raw, s); err != nil {
		return nil, nil, fmt.Errorf("--secret-file %s: not a bid's secret file: %w", path, err)
	}
	body, err := s.Reveal()
	switch {
	case errors.Is(err, client.ErrBidChanged):
		return nil, nil, fmt.Errorf("--secret-file %s: %v: the file was changed after the bid was sent; nothing was sent, the chain would refuse the reveal", path, err)
	case err != nil:
		return nil, nil, fmt.Errorf("--secret-file %s: %v", path, err)
	}
	return s, body.GetRevealBid(), nil
}

// checkBidOnChain checks that the tender holds, unrevealed, the bid the
// secret opens: the bidder's commitment on chain is the file's.
func checkBidOnChain(ctx context.Context, n *nodeConn, s *client.SealedBid) error {
	t := &pb.Tender{}
	found, err := n.stateMsg(ctx, "tender "+s.Tender, exec.TenderKey(s.Tender), t)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("tender %s is not on chain", termText(s.Tender))
	}
	for _, b := range t.GetBids() {
		if b.GetBidderId() != s.Bidder {
			continue
		}
		if b.GetRevealed() {
			return fmt.Errorf("the bid of %s on tender %s is already revealed", termText(s.Bidder), termText(s.Tender))
		}
		if want := s.Commitment; hex.EncodeToString(b.GetCommitment()) != want {
			return fmt.Errorf("the bid of %s on tender %s has commitment %x on chain, the secret file's is %s: a later bid replaced it (reveal that bid's secret file)",
				termText(s.Bidder), termText(s.Tender), b.GetCommitment(), want)
		}
		return nil
	}
	return fmt.Errorf("tender %s holds no bid of %s", termText(s.Tender), termText(s.Bidder))
}
