package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/client"
	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/ledger/exec"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

func newQueryCmd(c *cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "query",
		Short: "Read transactions, blocks and state from a node, with proofs",
		Long: `Query reads from --node. Hashes are printed in hex; --output json prints one
JSON object. With --prove (identity, record, access-log, contract, proposal,
evidence, state, budget, account, tender) the answer carries a proof, which is verified before anything
is printed: the value against the state root (tree proof), the root against a
block header, and the header against its commit certificate, signed by a
quorum of the genesis validator set (--genesis, --testnet DIR, or the home's
genesis); access-log proves each entry.

identity, record and state take --height N: the answer is the committed
state after block N as it was then (a record's versions up to N, an
identity's credentials then), and with --prove its proof rests on a
committed header attesting N. Without --height they answer from the newest
state. A height above the newest attested state is refused, and so is a
proof at a height that no header attests (state heights can skip one after
a view change): the error names the heights to ask for instead.

Every query authenticates as --signer with --key FILE or --testnet DIR (over
https); without them it is anonymous. A protected record's content is
released only to an authenticated, entitled caller (query record --content).`,
	}
	cmd.AddCommand(
		newQueryTxCmd(c), newQueryBlockCmd(c), newQueryIdentityCmd(c), newQueryRecordCmd(c),
		newQueryAccessLogCmd(c), newQueryContractCmd(c), newQueryProposalCmd(c), newQueryEvidenceCmd(c),
		newQueryStateCmd(c), newQueryBudgetCmd(c), newQueryAccountCmd(c), newQueryTenderCmd(c),
	)
	return cmd
}

// queryCommand wires the client flags and a call.
func (c *cli) queryCommand(use, short string, args cobra.PositionalArgs, cf *clientFlags,
	run func(cmd *cobra.Command, n *nodeConn, args []string) error) *cobra.Command {
	cmd := &cobra.Command{
		Use: use, Short: short, Args: args,
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := c.connect(cf)
			if err != nil {
				return err
			}
			return run(cmd, n, args)
		},
	}
	addClientFlags(cmd, cf)
	return cmd
}

// ---------------------------------------------------------------------- tx

func newQueryTxCmd(c *cli) *cobra.Command {
	cf := &clientFlags{}
	return c.queryCommand("tx HASH", "Show a transaction: its body, block, result and events", cobra.ExactArgs(1), cf,
		func(cmd *cobra.Command, n *nodeConn, args []string) error {
			h, err := parseHash("tx hash", args[0])
			if err != nil {
				return err
			}
			ctx, cancel := cf.callCtx(cmd)
			defer cancel()
			// The SDK checks that the transaction returned hashes to h.
			m, err := n.sdk.GetTx(ctx, h)
			var ce *client.CallError
			if errors.As(err, &ce) {
				return rpcError("get tx "+hex.EncodeToString(h), n, err)
			} else if err != nil {
				return err
			}
			v := viewV{}.with("hash", hex.EncodeToString(h))
			v = v.with("pending", m.GetPending())
			if !m.GetPending() {
				v = v.with("height", m.GetHeight()).with("index", uint64(m.GetIndex()))
			}
			v = append(v, txBodyView(m.GetTx())...)
			if r := m.GetResult(); r != nil {
				v = v.with("code", r.GetCode().String())
				if r.GetReason() != "" {
					v = v.with("reason", r.GetReason())
				}
				var evs []any
				for _, e := range r.GetEvents() {
					evs = append(evs, eventView(e, nil))
				}
				if len(evs) > 0 {
					v = v.with("events", evs)
				}
			}
			return c.printView(cmd.OutOrStdout(), v)
		})
}

// txBodyView decodes a serialized SignedTx for display: signer, nonce,
// action and its fields. A body that does not decode is shown as such.
func txBodyView(raw []byte) viewV {
	if len(raw) == 0 {
		return nil
	}
	stx := &pb.SignedTx{}
	body := &pb.TxBody{}
	if err := proto.Unmarshal(raw, stx); err != nil {
		return viewV{}.with("decode_error", err.Error())
	}
	if err := proto.Unmarshal(stx.GetBody(), body); err != nil {
		return viewV{}.with("decode_error", err.Error())
	}
	v := viewV{}.with("chain_id", body.GetChainId()).with("signer", body.GetSigner()).with("nonce", body.GetNonce())
	if body.GetMemo() != "" {
		v = v.with("memo", body.GetMemo())
	}
	name := actionName(body)
	v = v.with("action", name)
	if name != "" {
		r := body.ProtoReflect()
		fd := r.WhichOneof(r.Descriptor().Oneofs().ByName("action"))
		v = v.with(name, msgView(r.Get(fd).Message().Interface()))
	}
	return v
}

// -------------------------------------------------------------------- block

// parseHeight reads a height or "latest".
func parseHeight(s string) (height uint64, latest bool, err error) {
	if strings.EqualFold(s, "latest") {
		return 0, true, nil
	}
	h, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("height %q: want a non-negative integer or \"latest\"", s)
	}
	return h, false, nil
}

func newQueryBlockCmd(c *cli) *cobra.Command {
	cf := &clientFlags{}
	return c.queryCommand("block HEIGHT|latest", "Show a committed block: header, transactions, commit certificate", cobra.ExactArgs(1), cf,
		func(cmd *cobra.Command, n *nodeConn, args []string) error {
			h, latest, err := parseHeight(args[0])
			if err != nil {
				return err
			}
			ctx, cancel := cf.callCtx(cmd)
			defer cancel()
			res, err := n.sdk.GetBlock(ctx, h, latest)
			if err != nil {
				return rpcError("get block "+args[0], n, err)
			}
			suite, err := n.sdk.Suite(ctx)
			if err != nil {
				return rpcError("status", n, err)
			}
			v, err := blockView(suite, res)
			if err != nil {
				return err
			}
			return c.printView(cmd.OutOrStdout(), v)
		})
}

// blockView shows a block; height and hash (hex) always come first.
func blockView(suite crypto.Suite, m *pb.GetBlockResponse) (viewV, error) {
	hdr := m.GetHeader()
	rawHdr := m.GetBlock().GetHeader()
	if hdr == nil && len(rawHdr) > 0 {
		hdr = &pb.Header{}
		if err := proto.Unmarshal(rawHdr, hdr); err != nil {
			return nil, fmt.Errorf("block header does not decode: %w", err)
		}
	}
	hash := m.GetHash()
	if len(rawHdr) > 0 {
		computed := suite.Hash(rawHdr)
		if len(hash) > 0 && !bytesEqual(hash, computed) {
			return nil, fmt.Errorf("the node says block %d has hash %x, its header hashes to %x", m.GetHeight(), hash, computed)
		}
		hash = computed
	}
	height := m.GetHeight()
	if height == 0 {
		height = hdr.GetHeight()
	}
	v := viewV{}.with("height", height).with("hash", hex.EncodeToString(hash)).
		with("time_unix_ms", hdr.GetTimeUnixMs()).
		with("view", hdr.GetView()).
		with("proposer", uint64(hdr.GetProposer())).
		with("parent_hash", hex.EncodeToString(hdr.GetParentHash())).
		with("state_height", hdr.GetStateHeight()).
		with("state_root", hex.EncodeToString(hdr.GetStateRoot())).
		with("tx_count", uint64(len(m.GetBlock().GetTxs())))
	txs := []any{}
	for _, raw := range m.GetBlock().GetTxs() {
		t := viewV{}.with("hash", hex.EncodeToString(suite.Hash(raw)))
		if b := txBodyView(raw); b != nil {
			for _, f := range b {
				if f.name == "signer" || f.name == "nonce" || f.name == "action" || f.name == "decode_error" {
					t = t.with(f.name, f.value)
				}
			}
		}
		txs = append(txs, t)
	}
	v = v.with("txs", txs).with("header", msgView(hdr))
	if cert := m.GetCert(); cert != nil {
		v = v.with("cert", viewV{}.with("height", cert.GetHeight()).
			with("block_hash", hex.EncodeToString(cert.GetBlockHash())).
			with("qc_view", cert.GetChildQc().GetView()).
			with("qc_height", cert.GetChildQc().GetHeight()).
			with("signers", uint64(len(cert.GetChildQc().GetSigs()))).
			with("signer_ids", signerIDs(m.GetSignerIds())))
	}
	return v, nil
}

// ------------------------------------------------------- objects with proofs

func newQueryIdentityCmd(c *cli) *cobra.Command {
	cf, pf := &clientFlags{}, &proveFlags{}
	var height uint64
	cmd := c.queryCommand("identity ID", "Show an identity and its credentials (as they were at --height N)", cobra.ExactArgs(1), cf,
		func(cmd *cobra.Command, n *nodeConn, args []string) error {
			ctx, cancel := cf.callCtx(cmd)
			defer cancel()
			res, err := n.sdk.QueryIdentity(ctx, &pb.QueryIdentityRequest{IdentityId: args[0], Prove: pf.prove, Height: height})
			if err != nil {
				return rpcError("query identity "+args[0], n, err)
			}
			m := res
			if err := checkAnsweredHeight(height, m.GetHeight(), pf, m.GetProof()); err != nil {
				return err
			}
			v := viewV{}.with("height", m.GetHeight()).with("identity", msgView(m.GetIdentity()))
			if len(m.GetCredentials()) > 0 {
				v = v.with("credentials", listView(m.GetCredentials()))
			}
			return c.printProven(cmd, n, cf, pf, v, m.GetProof(), exec.IdentityKey(args[0]), m.GetIdentity())
		})
	addHeightFlag(cmd, &height)
	addProveFlags(cmd, pf)
	return cmd
}

func newQueryContractCmd(c *cli) *cobra.Command {
	cf, pf := &clientFlags{}, &proveFlags{}
	cmd := c.queryCommand("contract ID", "Show a contract: parties, state, next deadlines, escrow and payments, milestones, history", cobra.ExactArgs(1), cf,
		func(cmd *cobra.Command, n *nodeConn, args []string) error {
			ctx, cancel := cf.callCtx(cmd)
			defer cancel()
			res, err := n.sdk.QueryContract(ctx, &pb.QueryContractRequest{ContractId: args[0], Prove: pf.prove})
			if err != nil {
				return rpcError("query contract "+args[0], n, err)
			}
			m := res
			ct := m.GetContract()
			// The template gives the current state's deadlines (read, not
			// proven: they only explain the proven contract).
			var tmpl *pb.ContractTemplate
			if id := ct.GetTemplateId(); id != "" {
				t := &pb.ContractTemplate{}
				found, err := n.stateMsg(ctx, "contract template "+id, exec.TemplateKey(id), t)
				if err != nil {
					return err
				}
				if found {
					tmpl = t
				} else {
					warn(cmd, "contract template %s is not on chain: its deadlines are not shown", termText(id))
				}
			}
			v := viewV{}.with("height", m.GetHeight()).with("contract", msgView(ct)).
				with("state", ct.GetState()).with("deadlines", contractDeadlinesView(ct, tmpl))
			v = contractMoneyView(v, ct)
			return c.printProven(cmd, n, cf, pf, v, m.GetProof(), exec.ContractKey(args[0]), ct)
		})
	addProveFlags(cmd, pf)
	return cmd
}

func newQueryProposalCmd(c *cli) *cobra.Command {
	cf, pf := &clientFlags{}, &proveFlags{}
	cmd := c.queryCommand("proposal ID", "Show a governance proposal and its votes", cobra.ExactArgs(1), cf,
		func(cmd *cobra.Command, n *nodeConn, args []string) error {
			ctx, cancel := cf.callCtx(cmd)
			defer cancel()
			res, err := n.sdk.QueryProposal(ctx, &pb.QueryProposalRequest{ProposalId: args[0], Prove: pf.prove})
			if err != nil {
				return rpcError("query proposal "+args[0], n, err)
			}
			m := res
			pv := msgView(m.GetProposal())
			if raw := m.GetProposal().GetSubmit(); len(raw) > 0 {
				sp := &pb.SubmitProposal{}
				if err := proto.Unmarshal(raw, sp); err == nil {
					pv = pv.set("submit", msgView(sp))
				}
			}
			v := viewV{}.with("height", m.GetHeight()).with("proposal", pv)
			return c.printProven(cmd, n, cf, pf, v, m.GetProof(), exec.ProposalKey(args[0]), m.GetProposal())
		})
	addProveFlags(cmd, pf)
	return cmd
}

// newQueryEvidenceCmd reads the equivocation evidence recorded against a
// department's validator (SubmitEvidence) through QueryState: the API has no
// call of its own for it, and the state key names it exactly.
func newQueryEvidenceCmd(c *cli) *cobra.Command {
	cf, pf := &clientFlags{}, &proveFlags{}
	cmd := c.queryCommand("evidence DEPARTMENT VIEW HEIGHT", "Show the equivocation evidence recorded against a department's validator at (view, height)",
		cobra.ExactArgs(3), cf,
		func(cmd *cobra.Command, n *nodeConn, args []string) error {
			view, err := strconv.ParseUint(args[1], 10, 64)
			if err != nil {
				return fmt.Errorf("view %q: %w", args[1], err)
			}
			height, err := strconv.ParseUint(args[2], 10, 64)
			if err != nil {
				return fmt.Errorf("height %q: %w", args[2], err)
			}
			key := exec.EvidenceKey(args[0], view, height)
			ctx, cancel := cf.callCtx(cmd)
			defer cancel()
			res, err := n.sdk.QueryState(ctx, &pb.QueryStateRequest{Key: key, Prove: pf.prove})
			if err != nil {
				return rpcError("query evidence", n, err)
			}
			m := res
			if !m.GetFound() {
				return fmt.Errorf("no equivocation evidence recorded against %s at view %d, height %d (chain at height %d)", args[0], view, height, m.GetHeight())
			}
			ev := &pb.EquivocationEvidence{}
			if err := proto.Unmarshal(m.GetValue(), ev); err != nil {
				return fmt.Errorf("evidence against %s: the node returned a value that does not decode: %w", args[0], err)
			}
			v := viewV{}.with("height", m.GetHeight()).with("department", args[0]).with("evidence", msgView(ev))
			return c.printProven(cmd, n, cf, pf, v, m.GetProof(), key, ev)
		})
	addProveFlags(cmd, pf)
	return cmd
}

func newQueryStateCmd(c *cli) *cobra.Command {
	cf, pf := &clientFlags{}, &proveFlags{}
	var text bool
	var height uint64
	cmd := c.queryCommand("state KEY", "Read one raw state key (hex; --text for a text key such as nonce/account0; as it was at --height N)", cobra.ExactArgs(1), cf,
		func(cmd *cobra.Command, n *nodeConn, args []string) error {
			key := []byte(args[0])
			if !text {
				var err error
				if key, err = parseHex("state key", args[0]); err != nil {
					return fmt.Errorf("%w (give --text for a text key)", err)
				}
			}
			if len(key) == 0 {
				return errors.New("state key: empty")
			}
			ctx, cancel := cf.callCtx(cmd)
			defer cancel()
			res, err := n.sdk.QueryState(ctx, &pb.QueryStateRequest{Key: key, Prove: pf.prove, Height: height})
			if err != nil {
				return rpcError("query state", n, err)
			}
			m := res
			if err := checkAnsweredHeight(height, m.GetHeight(), pf, m.GetProof()); err != nil {
				return err
			}
			v := viewV{}.with("height", m.GetHeight()).with("key", hex.EncodeToString(key)).with("found", m.GetFound())
			var value []byte
			if m.GetFound() {
				value = m.GetValue()
				if value == nil {
					value = []byte{}
				}
				v = v.with("value", hex.EncodeToString(value))
			}
			if !pf.prove {
				return c.printView(cmd.OutOrStdout(), v)
			}
			anchor, err := c.anchor(cmd, pf)
			if err != nil {
				return err
			}
			ctx2, cancel2 := cf.callCtx(cmd)
			defer cancel2()
			st, err := n.status(ctx2)
			if err != nil {
				return err
			}
			pr, err := verifyStateProof(m.GetProof(), key, value, st, anchor)
			if err != nil {
				return err
			}
			return c.printWithProof(cmd, v, pr)
		})
	cmd.Flags().BoolVar(&text, "text", false, "KEY is text, not hex")
	addHeightFlag(cmd, &height)
	addProveFlags(cmd, pf)
	return cmd
}

// addHeightFlag adds --height to a query that can answer at a past height.
func addHeightFlag(cmd *cobra.Command, height *uint64) {
	cmd.Flags().Uint64Var(height, "height", 0, "answer from the committed state after block `N` as it was then (0: the newest); with --prove, proven against a committed header attesting N")
}

// checkAnsweredHeight checks an answer to --height (the SDK's
// client.CheckAnsweredHeight; the proof only with --prove).
func checkAnsweredHeight(asked, answered uint64, pf *proveFlags, p *pb.StateProof) error {
	if !pf.prove {
		p = nil
	}
	return client.CheckAnsweredHeight(asked, answered, p)
}

// printProven prints v, after verifying proof when --prove: the proof must
// prove obj's encoding at key.
func (c *cli) printProven(cmd *cobra.Command, n *nodeConn, cf *clientFlags, pf *proveFlags, v viewV, p *pb.StateProof, key []byte, obj proto.Message) error {
	if !pf.prove {
		return c.printView(cmd.OutOrStdout(), v)
	}
	anchor, err := c.anchor(cmd, pf)
	if err != nil {
		return err
	}
	if p == nil {
		return proofErr("the node sent no proof")
	}
	if err := client.ProvenObject(p.GetValue(), obj); err != nil {
		return err
	}
	ctx, cancel := cf.callCtx(cmd)
	defer cancel()
	st, err := n.status(ctx)
	if err != nil {
		return err
	}
	value := p.GetValue()
	if value == nil {
		value = []byte{}
	}
	pr, err := verifyStateProof(p, key, value, st, anchor)
	if err != nil {
		return err
	}
	return c.printWithProof(cmd, v, pr)
}

func (c *cli) printWithProof(cmd *cobra.Command, v viewV, pr *proofResult) error {
	if c.output == "json" {
		return writeJSON(cmd.OutOrStdout(), v.with("proof", pr.view()))
	}
	writeView(cmd.OutOrStdout(), v, "")
	fmt.Fprintf(cmd.OutOrStdout(), "%s\n  state root %s at state height %d; validator set: %s\n", pr, pr.StateRoot, pr.StateHeight, pr.ValidatorSet)
	return nil
}

// listView is the view of a list of messages.
func listView[T proto.Message](ms []T) []any {
	out := make([]any, 0, len(ms))
	for _, m := range ms {
		out = append(out, msgView(m))
	}
	return out
}

// signerIDs is a JSON list (never null) of the departments certifying a
// block.
func signerIDs(ids []string) []any {
	out := []any{}
	for _, id := range ids {
		out = append(out, id)
	}
	return out
}
