package node_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/genesis"
	"github.com/govnode/govnode/ledger/exec/exectest"
	"github.com/govnode/govnode/node"
	"github.com/govnode/govnode/node/api"
	"github.com/govnode/govnode/node/nodetest"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// quorumCluster is a 3-validator crash-fault chain (quorum 2) whose dept0
// has an admin, which nodetest.NewCluster's genesis lacks: one
// nodetest.Chain per validator, each listening where the shared genesis
// says.
type quorumCluster struct {
	nodes    []*nodetest.Node
	admin    *nodetest.Account // dept0-admin: ROLE_ADMIN
	official *nodetest.Account // dept0-official: issues every record type
}

func newQuorumCluster(t *testing.T, n int) *quorumCluster {
	t.Helper()
	const chainID = "nodetest-quorum"
	params := nodetest.ClusterParams()
	doc := &pb.GenesisDoc{ChainId: chainID, GenesisTime: nodetest.GenesisTime, FaultModel: genesis.FaultCrash, Params: params}
	var chains []*nodetest.Chain
	var depts []string
	for i := range n {
		listen := freeP2PAddr(t)
		ch := nodetest.NewChain(t, nodetest.Options{ChainID: chainID, Seed: uint64(1700 + i), Params: params,
			Configure: func(cfg *node.Config) {
				cfg.Moniker = fmt.Sprintf("node%d", i)
				cfg.P2P.ListenAddrs = []string{listen}
			}})
		dept := &pb.Department{Id: fmt.Sprintf("dept%d", i), Name: fmt.Sprintf("Department %d", i),
			ConsensusKey: ch.ValidatorKey.Public(), PeerId: ch.PeerID, Addrs: []string{listen}}
		doc.Validators = append(doc.Validators, dept)
		doc.Identities = append(doc.Identities, genesis.ValidatorIdentity(dept))
		depts = append(depts, dept.GetId())
		chains = append(chains, ch)
	}
	doc.RecordTypes = genesis.SampleRecordTypes(depts)
	var types []string
	for _, rt := range doc.GetRecordTypes() {
		types = append(types, rt.GetId())
	}
	c := &quorumCluster{admin: chains[0].Admin, official: chains[0].Official}
	off := pb.IdentityKind_IDENTITY_KIND_OFFICIAL
	active := pb.IdentityStatus_IDENTITY_STATUS_ACTIVE
	doc.Identities = append(doc.Identities,
		&pb.Identity{Id: c.admin.ID, Kind: off, DepartmentId: "dept0", DisplayName: c.admin.ID, PublicKey: c.admin.Key.Public(),
			Status: active, Roles: []pb.Role{pb.Role_ROLE_ADMIN}},
		&pb.Identity{Id: c.official.ID, Kind: off, DepartmentId: "dept0", DisplayName: c.official.ID, PublicKey: c.official.Key.Public(),
			Status: active, Roles: []pb.Role{pb.Role_ROLE_ISSUER}, IssuerRecordTypes: types})
	if _, err := genesis.Validate(doc); err != nil {
		t.Fatalf("genesis: %v", err)
	}
	for _, ch := range chains {
		ch.Genesis = doc
	}
	for _, ch := range chains {
		c.nodes = append(c.nodes, ch.Start(t))
	}
	(&nodetest.Cluster{Nodes: c.nodes}).WaitMeshed(t, 30*time.Second)
	return c
}

func addDepartment(id string, consensusKey *pb.PublicKey) *pb.TxBody {
	return &pb.TxBody{Action: &pb.TxBody_SubmitProposal{SubmitProposal: &pb.SubmitProposal{
		ProposalId: "add-" + id, Title: "add " + id, VotingEndHeight: 100_000,
		Change: &pb.SubmitProposal_AddDepartment{AddDepartment: &pb.AddDepartment{
			Department: &pb.Department{Id: id, Name: "Department " + id, ConsensusKey: consensusKey, PeerId: exectest.PeerID(id)},
			Admin: &pb.RegisterOfficial{IdentityId: id + "-admin", DepartmentId: id, DisplayName: "admin",
				Roles: []pb.Role{pb.Role_ROLE_ADMIN}, PublicKey: consensusKey},
		}},
	}}}
}

// The node-level rule of issue 17 item 5: with one validator of three
// down, adding a department would raise the crash quorum to 3 of 4 while
// only 2 are live, so SubmitTx refuses it, naming the rule and the
// numbers, and nothing changes. While fewer than api.LiveWindow blocks
// exist every validator counts as live, and the same change is admitted.
func TestQuorumPreCheckRefusesUnliveQuorum(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node cluster")
	}
	c := newQuorumCluster(t, 3)
	n0 := c.nodes[0]
	key := func(seed string) *pb.PublicKey { return exectest.NewKey(seed).Public() }

	if h := n0.Status(t).GetHeight(); h >= api.LiveWindow {
		t.Fatalf("fresh chain at height %d", h)
	}
	// (It stays voting: only a decided change counts as pending.)
	n0.CommitOK(t, c.admin.Tx(addDepartment("dept3", key("dept3"))))

	// node2 stops; the others commit more than a window of blocks (the
	// records fail, citizen0 does not exist: a block all the same).
	if err := c.nodes[2].Stop(); err != nil {
		t.Fatal(err)
	}
	stopped := n0.Status(t).GetHeight()
	for i := 0; n0.Status(t).GetHeight() < stopped+api.LiveWindow+3; i++ {
		n0.Commit(t, c.official.Tx(nodetest.CreateRecord(fmt.Sprintf("r%d", i), nodetest.BusinessLicense, "citizen0", []byte("x"))))
	}
	before := n0.WaitIdle(t)
	nonce := n0.SyncNonce(t, c.admin)

	tx := c.admin.Tx(addDepartment("dept4", key("dept4")))
	_, err := n0.Client.SubmitTx(nodetest.Ctx(t), connect.NewRequest(&pb.SubmitTxRequest{Tx: tx}))
	nodetest.WantCode(t, err, connect.CodeFailedPrecondition)
	want := "quorum safety, live quorum: add-department dept4 would leave 4 validators needing a quorum of 3 (crash), but only 2 of them are live now (dept0, dept1; live: votes in the commit certificates of blocks "
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q, want it to contain %q", err, want)
	}
	t.Logf("refused: %v", err)
	checkNothingChanged(t, n0, before, tx, "add-dept4", nonce, c.admin)

	// Removing the dead validator would leave 2: the minimum-size rule
	// (the state machine's, through the mempool's check).
	rm := c.admin.Tx(&pb.TxBody{Action: &pb.TxBody_SubmitProposal{SubmitProposal: &pb.SubmitProposal{
		ProposalId: "rm-dept2", Title: "remove dept2", VotingEndHeight: 100_000,
		Change: &pb.SubmitProposal_RemoveDepartment{RemoveDepartment: &pb.RemoveDepartment{DepartmentId: "dept2"}},
	}}})
	_, err = n0.Client.SubmitTx(nodetest.Ctx(t), connect.NewRequest(&pb.SubmitTxRequest{Tx: rm}))
	nodetest.WantCode(t, err, connect.CodeFailedPrecondition)
	if want := "quorum safety, minimum size: remove-department dept2 would leave 2 validators; crash mode needs at least 3"; !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q, want it to contain %q", err, want)
	}
	checkNothingChanged(t, n0, before, rm, "rm-dept2", nonce, c.admin)
}

// checkNothingChanged checks that a refused tx left the node as it was:
// same height and state root, not in the mempool nor committed, its
// proposal not stored, its signer's nonce unused.
func checkNothingChanged(t *testing.T, n *nodetest.Node, before *pb.StatusResponse, tx []byte, proposal string, nonce uint64, a *nodetest.Account) {
	t.Helper()
	unchanged(t, n, before)
	if _, err := n.Client.GetTx(nodetest.Ctx(t), connect.NewRequest(&pb.GetTxRequest{TxHash: crypto.Ed25519SHA256.Hash(tx)})); connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("refused tx: GetTx %v", err)
	}
	if _, err := n.Client.QueryProposal(nodetest.Ctx(t), connect.NewRequest(&pb.QueryProposalRequest{ProposalId: proposal})); connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("refused proposal: QueryProposal %v", err)
	}
	if got := n.SyncNonce(t, a); got != nonce {
		t.Fatalf("nonce %d, was %d", got, nonce)
	}
}
