// Package lightclienttest runs a chain whose records have proof bundles
// worth checking (a record of several versions across a validator-set
// change, with access entries), for the tests of the light client, the
// API's GetRecordBundle and the CLI's verify.
package lightclienttest

import (
	"strconv"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/genesis"
	"github.com/govnode/govnode/ledger/exec/exectest"
	"github.com/govnode/govnode/node/nodetest"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Records of the chain.
const (
	// Record is a public business licence of citizen0: created and amended
	// before the validator-set change, amended twice after it, accessed
	// twice.
	Record = "lic-1"
	// Versions is Record's version count; Accesses its access entries.
	Versions = 4
	Accesses = 2
	// Content is the content of Record's version 4.
	Content = "fourth version of the licence"
	// Fresh is a record with one version and no access entry.
	Fresh = "fresh-1"
	// Protected is a birth certificate (a protected type) of citizen0,
	// whose content, Secret, is kept beside the chain: state holds its
	// commitment only.
	Protected = "bc-1"
	Secret    = "birth certificate of citizen0: MARKER-5e1d"
)

// Chain is a one-validator chain (nodetest) running, whose department
// rotated its node key by governance: one validator-set change, in force
// from SetFrom (ARCHITECTURE.md §4, "Proofs across set changes").
type Chain struct {
	*nodetest.Chain
	Node        *nodetest.Node
	GenesisHash []byte
	SetFrom     uint64
}

// NewChain starts the chain and writes its records; the node stops at
// the test's end.
func NewChain(t testing.TB) *Chain { return NewChainOf(t, crypto.Ed25519SHA256) }

// NewChainOf is NewChain on a chain of crypto suite suite.
func NewChainOf(t testing.TB, suite crypto.Suite) *Chain {
	t.Helper()
	params := nodetest.FastParams()
	params.ValidatorChangeDelay = 12
	ch := nodetest.NewChain(t, nodetest.Options{ChainID: "bundle-chain", Params: params, Suite: suite})
	n := ch.Start(t)
	t.Cleanup(func() { _ = n.Stop() })
	gh, err := genesis.Hash(ch.Genesis)
	if err != nil {
		t.Fatal(err)
	}
	c := &Chain{Chain: ch, Node: n, GenesisHash: gh}
	off := ch.Official
	n.CommitOK(t, off.Tx(nodetest.CreateRecord(Record, nodetest.BusinessLicense, "citizen0", []byte("first version"))))
	n.CommitOK(t, off.Tx(nodetest.AmendRecord(Record, 1, []byte("second version"), "renewal")))

	rotate := &pb.RotateNodeKey{DepartmentId: nodetest.Dept, PeerId: exectest.PeerID("dept0-new-node-key")}
	if suite == crypto.SM2SM3 {
		var err error
		if rotate.PeerBinding, err = genesis.BindPeer(ch.ValidatorKey, ch.ChainID, nodetest.Dept, rotate.GetPeerId()); err != nil {
			t.Fatal(err)
		}
	}
	n.CommitOK(t, ch.Admin.Tx(&pb.TxBody{Action: &pb.TxBody_SubmitProposal{SubmitProposal: &pb.SubmitProposal{
		ProposalId: "rotate-node", Title: "rotate dept0's node key", VotingEndHeight: 100_000,
		Change: &pb.SubmitProposal_RotateNodeKey{RotateNodeKey: rotate},
	}}}))
	r := n.CommitOK(t, ch.Admin.Tx(&pb.TxBody{Action: &pb.TxBody_VoteProposal{VoteProposal: &pb.VoteProposal{ProposalId: "rotate-node", Approve: true}}}))
	c.SetFrom = r.GetHeight() + params.GetValidatorChangeDelay()
	deadline := time.Now().Add(60 * time.Second)
	for i := 0; n.Status(t).GetHeight() < c.SetFrom+3; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("stuck at height %d, the set change at %d", n.Status(t).GetHeight(), c.SetFrom)
		}
		n.Commit(t, off.Tx(nodetest.CreateRecord("filler-"+strconv.Itoa(i), nodetest.BusinessLicense, "citizen1", []byte("x"))))
	}
	if st := n.Status(t); st.GetValidators().GetEffectiveHeight() != c.SetFrom {
		t.Fatalf("the set in force is from %d, want %d", st.GetValidators().GetEffectiveHeight(), c.SetFrom)
	}
	n.CommitOK(t, off.Tx(nodetest.AmendRecord(Record, 2, []byte("third version"), "correction")))
	n.CommitOK(t, off.Tx(nodetest.AccessRecord(Record, "inspection", "law 1")))
	n.CommitOK(t, off.Tx(nodetest.AmendRecord(Record, 3, []byte(Content), "renewal")))
	n.CommitOK(t, off.Tx(nodetest.AccessRecord(Record, "audit", "law 2")))
	n.CommitOK(t, off.Tx(nodetest.CreateRecord(Fresh, nodetest.BusinessLicense, "citizen1", []byte("fresh"))))
	salt, err := crypto.NewPayloadSalt()
	if err != nil {
		t.Fatal(err)
	}
	tx := off.Tx(&pb.TxBody{Action: &pb.TxBody_CreateRecord{CreateRecord: &pb.CreateRecord{
		RecordId: Protected, RecordType: nodetest.BirthCert, SubjectId: "citizen0",
		ContentHash: suite.PayloadCommitment(salt, []byte(Secret)), ContentType: "text/plain",
	}}})
	res, err := n.Client.SubmitTx(nodetest.Ctx(t), connect.NewRequest(&pb.SubmitTxRequest{Tx: tx, WaitForCommit: true,
		Payloads: []*pb.Payload{{Salt: salt, Content: []byte(Secret)}}}))
	if err != nil || res.Msg.GetResult().GetCode() != pb.ResultCode_RESULT_CODE_OK {
		t.Fatalf("create the protected record: %v %v", err, res)
	}
	n.WaitIdle(t)
	return c
}

// Bundle fetches record id's bundle (GetRecordBundle at height) and
// returns it serialized.
func (c *Chain) Bundle(t testing.TB, id string, height uint64) []byte {
	t.Helper()
	resp, err := c.Node.Client.GetRecordBundle(nodetest.Ctx(t), connect.NewRequest(&pb.GetRecordBundleRequest{RecordId: id, Height: height}))
	if err != nil {
		t.Fatalf("GetRecordBundle(%s, %d): %v", id, height, err)
	}
	b, err := proto.Marshal(resp.Msg.GetBundle())
	if err != nil {
		t.Fatal(err)
	}
	return b
}
