package main

// Proof checking for `query ... --prove` (ARCHITECTURE.md §3 step 6, §5 "State
// commitment"). A StateProof is checked in three steps, none of which trusts
// the node that answered:
//
//  1. tree: the value (or its absence) at the expected key hashes up to
//     state_root (lightclient.CheckStateProof, over ledger/state/proof);
//  2. header: the serialized header names that state_root and state_height
//     and the chain id;
//  3. commit: the header is committed, by consensus.VerifyCommit over the
//     commit certificate and the chain of headers up to the certified block,
//     against the validator set in force at its height, reached from the
//     set of the genesis document (--genesis, the test network's genesis,
//     or the home's), not taken from the answer: each set that took force
//     after genesis is proven under the set before it
//     (lightclient.FollowValidatorSets; ARCHITECTURE.md §4, "Proofs
//     across set changes").
//
// Steps 1 to 3 are the SDK's (client.VerifyStateProof, over the light
// client, ledger/lightclient), the one verifier the SDK, the CLI, `govnode
// verify` and the portal share; here are the flags that find the genesis
// to trust, and the output.
//
// The object the node returned must also be exactly the proven value.

import (
	"encoding/hex"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/govnode/govnode/client"
	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/genesis"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// ErrProof wraps every reason a proof is refused (the SDK's).
var ErrProof = client.ErrProof

func proofErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrProof, fmt.Sprintf(format, a...))
}

// proveFlags are the flags of queries that can ask for a proof.
type proveFlags struct {
	prove   bool
	genesis string
	testnet string
}

func addProveFlags(cmd *cobra.Command, pf *proveFlags) {
	cmd.Flags().BoolVar(&pf.prove, "prove", false, "ask for a proof and verify it against a committed header and its commit certificate")
	cmd.Flags().StringVar(&pf.genesis, "genesis", "", "genesis file whose validator set --prove trusts (default: --testnet's, else the home's)")
	if cmd.Flags().Lookup("testnet") == nil { // else addClientFlags defined it, for authentication too
		cmd.Flags().StringVar(&pf.testnet, "testnet", "", "local test network directory (its genesis.json anchors --prove)")
	}
}

// anchor finds the genesis that --prove trusts. Without one, the validator
// set in the answer is used and a warning says so.
func (c *cli) anchor(cmd *cobra.Command, pf *proveFlags) (*client.Anchor, error) {
	path := pf.genesis
	testnet := pf.testnet
	if testnet == "" {
		testnet, _ = cmd.Flags().GetString("testnet")
	}
	if path == "" && testnet != "" {
		path = filepath.Join(testnet, "genesis.json")
	}
	if path == "" {
		cfg, err := c.homeConfig()
		if err != nil {
			return nil, fmt.Errorf("--prove: home config: %w", err)
		}
		if cfg != nil {
			path = cfg.ResolvePath(cfg.GenesisFile)
		}
	}
	if path == "" {
		warn(cmd, "no genesis to anchor the proof: the validator set comes from the node's own answer; give --genesis FILE to verify it independently")
		return nil, nil
	}
	doc, err := genesis.Load(path)
	if err != nil {
		return nil, fmt.Errorf("--prove: %w", err)
	}
	a, err := client.NewAnchor(doc, path)
	if err != nil {
		return nil, fmt.Errorf("--prove: %w", err)
	}
	return a, nil
}

// proofResult is what a verified proof establishes.
type proofResult struct {
	BlockHeight  uint64 `json:"block_height"`
	BlockHash    string `json:"block_hash"`
	StateHeight  uint64 `json:"state_height"`
	StateRoot    string `json:"state_root"`
	Key          string `json:"key"`
	Present      bool   `json:"present"`
	Signers      int    `json:"signers"`
	Validators   int    `json:"validators"`
	Quorum       int    `json:"quorum"`
	ValidatorSet string `json:"validator_set"`
	// SetChanges is how many validator-set changes the proof followed from
	// genesis; SetFrom the first height of the set that certifies the block
	// (1 for the genesis set).
	SetChanges int    `json:"validator_set_changes"`
	SetFrom    uint64 `json:"validator_set_from"`
}

func (r *proofResult) view() viewV {
	return viewV{}.with("verified", true).with("block_height", r.BlockHeight).with("block_hash", r.BlockHash).
		with("state_height", r.StateHeight).with("state_root", r.StateRoot).with("key", r.Key).
		with("present", r.Present).with("signers", uint64(r.Signers)).with("validators", uint64(r.Validators)).
		with("quorum", uint64(r.Quorum)).with("validator_set", r.ValidatorSet).
		with("validator_set_changes", uint64(r.SetChanges)).with("validator_set_from", r.SetFrom)
}

func (r *proofResult) String() string {
	return fmt.Sprintf("proof verified against block %d (commit certificate signed by %d of %d validators)", r.BlockHeight, r.Signers, r.Validators)
}

// verifyStateProof checks p proves value at key (value nil: key absent)
// with the SDK (client.VerifyStateProof): anchor may be nil (then p's own
// validator set is used, and the output says so); st is the node's status,
// whose chain id and crypto suite the caller expects. It returns what the
// proof establishes, for the output.
func verifyStateProof(p *pb.StateProof, key, value []byte, st *pb.StatusResponse, anchor *client.Anchor) (*proofResult, error) {
	suite, err := crypto.SuiteByName(st.GetCryptoSuite())
	if err != nil {
		return nil, fmt.Errorf("the node's chain: %w", err)
	}
	pr, err := client.VerifyStateProof(p, key, value, st.GetChainId(), suite, anchor)
	if err != nil {
		return nil, err
	}
	return &proofResult{
		BlockHeight: pr.BlockHeight, BlockHash: hex.EncodeToString(pr.BlockHash),
		StateHeight: pr.StateHeight, StateRoot: hex.EncodeToString(pr.StateRoot), Key: string(pr.Key), Present: pr.Present,
		Signers: pr.Signers, Validators: pr.Validators, Quorum: pr.Quorum, ValidatorSet: pr.ValidatorSet,
		SetChanges: pr.SetChanges, SetFrom: pr.SetFrom,
	}, nil
}
