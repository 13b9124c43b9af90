package main

import (
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

func newStatusCmd(c *cli) *cobra.Command {
	cf := &clientFlags{}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show a node's chain, height, consensus view, validators and peers",
		Long: `Status asks --node for its status. With --output json the object always has
chain_id, height (a number), last_block_hash and state_root (hex), and
crypto_suite (the chain's crypto suite: "ed25519-sha256" or "sm2-sm3"), then
the rest of the status.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := c.connect(cf)
			if err != nil {
				return err
			}
			ctx, cancel := cf.callCtx(cmd)
			defer cancel()
			st, err := n.status(ctx)
			if err != nil {
				return err
			}
			if c.output == "json" {
				return writeJSON(cmd.OutOrStdout(), statusView(st))
			}
			printStatus(cmd, n, st)
			return nil
		},
	}
	addClientFlags(cmd, cf)
	return cmd
}

// statusView puts the fields scripts depend on first, always present:
// chain_id, height, last_block_hash, state_root, crypto_suite.
func statusView(st *pb.StatusResponse) viewV {
	v := viewV{}.with("chain_id", st.GetChainId()).with("height", st.GetHeight()).
		with("last_block_hash", hex.EncodeToString(st.GetLastBlockHash())).
		with("state_root", hex.EncodeToString(st.GetStateRoot())).
		with("crypto_suite", statusSuite(st)).
		with("view", st.GetView()).
		with("leader", uint64(st.GetLeader())).
		with("syncing", st.GetSyncing()).
		with("validator_index", int64(st.GetValidatorIndex())).
		with("mempool_txs", st.GetMempoolTxs())
	for _, f := range msgView(st) {
		if _, ok := v.get(f.name); !ok {
			v = v.with(f.name, f.value)
		}
	}
	return v
}

// statusSuite is the name of the chain's crypto suite st reports
// (ARCHITECTURE.md §6 "Crypto suites"). A node that names none predates
// suites, and so runs an ed25519-sha256 chain; a name this binary does not
// know is shown as the node gave it.
func statusSuite(st *pb.StatusResponse) string {
	if st.GetCryptoSuite() == "" {
		return crypto.SuiteNameEd25519SHA256
	}
	return st.GetCryptoSuite()
}

func printStatus(cmd *cobra.Command, n *nodeConn, st *pb.StatusResponse) {
	w := cmd.OutOrStdout()
	role := "observer"
	if st.GetValidatorIndex() >= 0 {
		role = fmt.Sprintf("validator %d", st.GetValidatorIndex())
	}
	fmt.Fprintf(w, "node          %s (%s) at %s, version %s\n", termText(st.GetNodeId()), role, termText(n.url), termText(st.GetVersion()))
	caller := "anonymous"
	if id := st.GetCallerId(); id != "" {
		caller = "identity " + termText(id) + " (authenticated by client certificate)"
	}
	fmt.Fprintf(w, "caller        %s\n", caller)
	fmt.Fprintf(w, "chain         %s (%s, %s faults, genesis %x)\n", termText(st.GetChainId()), termText(statusSuite(st)), termText(st.GetFaultModel()), st.GetGenesisHash())
	fmt.Fprintf(w, "height        %d\n", st.GetHeight())
	fmt.Fprintf(w, "last block    %x\n", st.GetLastBlockHash())
	fmt.Fprintf(w, "state root    %x\n", st.GetStateRoot())
	fmt.Fprintf(w, "view          %d (leader %d)\n", st.GetView(), st.GetLeader())
	fmt.Fprintf(w, "syncing       %t\n", st.GetSyncing())
	fmt.Fprintf(w, "mempool       %d txs\n", st.GetMempoolTxs())
	vs := st.GetValidators().GetValidators()
	fmt.Fprintf(w, "validators    %d\n", len(vs))
	for i, d := range vs {
		fmt.Fprintf(w, "  %d  %-12s %s\n", i, termText(d.GetId()), termText(d.GetPeerId()))
	}
	// Decided by governance, not in force yet (ARCHITECTURE.md §4,
	// "Reconfiguration").
	for _, p := range st.GetPendingValidatorSets() {
		fmt.Fprintf(w, "pending set   %d validators (%s faults) in force from height %d%s\n", len(p.GetValidators()),
			termText(p.GetFaultModel()), p.GetEffectiveHeight(), setDiff(st.GetValidators(), p))
		for i, d := range p.GetValidators() {
			fmt.Fprintf(w, "  %d  %-12s %s\n", i, termText(d.GetId()), termText(d.GetPeerId()))
		}
	}
	if u := st.GetPendingUpgrade(); u != nil {
		fmt.Fprintf(w, "upgrade       %s: nodes stop after height %d unless their binary knows it", termText(u.GetName()), u.GetHaltHeight())
		if u.GetInfo() != "" {
			fmt.Fprintf(w, " (%s)", termText(u.GetInfo()))
		}
		fmt.Fprintln(w)
	}
	if len(st.GetPeers()) > 0 {
		fmt.Fprintf(w, "peers         %d\n", len(st.GetPeers()))
		for _, p := range st.GetPeers() {
			state := "disconnected"
			if p.GetConnected() {
				state = "connected"
			}
			seen := ""
			if ms := p.GetLastSeenUnixMs(); ms > 0 {
				seen = " last seen " + time.UnixMilli(ms).UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(w, "  %-12s %s %s rtt %dus%s\n", termText(p.GetDepartmentId()), termText(p.GetPeerId()), state, p.GetRttUs(), seen)
		}
	}
}

// setDiff names what next changes from cur: departments added and removed,
// consensus and node keys rotated, the fault model switched.
func setDiff(cur, next *pb.ValidatorSet) string {
	old := map[string]*pb.Department{}
	for _, d := range cur.GetValidators() {
		old[d.GetId()] = d
	}
	var parts []string
	for _, d := range next.GetValidators() {
		o, ok := old[d.GetId()]
		delete(old, d.GetId())
		switch {
		case !ok:
			parts = append(parts, "adds "+termText(d.GetId()))
		case !crypto.PublicKeyEqual(o.GetConsensusKey(), d.GetConsensusKey()):
			parts = append(parts, "rotates the validator key of "+termText(d.GetId()))
		case o.GetPeerId() != d.GetPeerId():
			parts = append(parts, "rotates the node key of "+termText(d.GetId()))
		}
	}
	for _, d := range cur.GetValidators() {
		if _, gone := old[d.GetId()]; gone {
			parts = append(parts, "removes "+termText(d.GetId()))
		}
	}
	if cur != nil && cur.GetFaultModel() != next.GetFaultModel() {
		parts = append(parts, "switches to "+termText(next.GetFaultModel()))
	}
	if len(parts) == 0 {
		return ""
	}
	return ": " + strings.Join(parts, ", ")
}
