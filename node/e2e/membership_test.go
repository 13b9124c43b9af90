package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/keystore"
	"github.com/govnode/govnode/node/nodetest"
	pb "github.com/govnode/govnode/proto/govnode/v1"
	"github.com/govnode/govnode/proto/govnode/v1/govnodev1connect"
)

// A department joins a running 4-validator byzantine network and another
// leaves, by governance, under continuous load (issue 17; ARCHITECTURE.md
// §4, "Reconfiguration"): the joining node starts before its addition
// takes effect, is admitted by every member once it does, catches up and
// signs commit certificates; the removed department's votes stop counting
// from the height its removal takes effect, and its node is disconnected.
// Every acknowledged tx commits exactly once and every node holds the
// same blocks.
func TestDepartmentJoinsAndLeavesLive(t *testing.T) {
	c := newCluster(t, 4, "byzantine")
	admins := c.admins()
	delay := c.chainParams(0).GetValidatorChangeDelay()

	// Continuous load on nodes 0..2 (node 3 leaves later): a grant per
	// account per round. An account whose tx is refused (a mempool bound)
	// is retired, so no acknowledged tx waits behind a nonce gap.
	var mu sync.Mutex
	var acked [][]byte
	stop := make(chan struct{})
	loadDone := make(chan struct{})
	accts := c.accounts()
	go func() {
		defer close(loadDone)
		live := map[string]bool{}
		for _, a := range accts {
			live[a.id] = true
		}
		for round := 0; ; round++ {
			for j, a := range accts {
				select {
				case <-stop:
					return
				default:
				}
				if !live[a.id] {
					continue
				}
				tx := c.grantTx(a)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				r, err := c.clients[[]int{0, 1, 2}[(round+j)%3]].SubmitTx(ctx, connect.NewRequest(&pb.SubmitTxRequest{Tx: tx}))
				cancel()
				if err != nil {
					t.Logf("load: %s retired: %v", a.id, err)
					live[a.id] = false
					continue
				}
				mu.Lock()
				acked = append(acked, r.Msg.GetTxHash())
				mu.Unlock()
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		<-loadDone
	}()

	// No stall: under the load, node 0's height never stands still for
	// 10 s, through both changes.
	stalls := c.watchStalls(0, stop)

	// Join: node 4's home, the add-department proposal, 3 of 4 approvals.
	j := c.join(4)
	joinPassed := c.passChange(admins, []int{0, 1, 2}, "add-dept4", &pb.SubmitProposal{
		Change: &pb.SubmitProposal_AddDepartment{AddDepartment: &pb.AddDepartment{
			Department: j.department,
			Admin: &pb.RegisterOfficial{IdentityId: "dept4-admin", DepartmentId: "dept4", DisplayName: "dept4 admin",
				Roles: []pb.Role{pb.Role_ROLE_ADMIN}, PublicKey: j.admin.key.Public()},
		}},
	})
	joinAt := joinPassed + delay
	c.start(4)
	c.waitUp(4)
	if st, err := c.status(4); err != nil || (st.GetHeight() < joinAt-1 && st.GetValidatorIndex() != -1) {
		t.Fatalf("node4 at height %d before the join took effect at %d: validator index %d (%v), want -1", st.GetHeight(), joinAt, st.GetValidatorIndex(), err)
	}
	c.waitHeight(joinAt+6, 90*time.Second, 0, 1, 2, 3, 4)
	for i := range 5 {
		if ids := c.validatorIDs(i); fmt.Sprint(ids) != "[dept0 dept1 dept2 dept3 dept4]" {
			t.Fatalf("node%d: validators in force %v after the join took effect", i, ids)
		}
	}
	if st, err := c.status(4); err != nil || st.GetValidatorIndex() != 4 {
		t.Fatalf("node4 after the join took effect: validator index %d (%v), want 4", st.GetValidatorIndex(), err)
	}
	// The new set certifies from joinAt: node 4 (index 4) signs commit
	// certificates there, and never below.
	signed := false
	for h := uint64(1); h < joinAt+6; h++ {
		for _, s := range c.block(0, h).GetCert().GetChildQc().GetSigs() {
			if s.GetValidator() == 4 {
				if h+1 < joinAt {
					t.Fatalf("validator 4 signs the certificate of block %d, before the join took effect at %d", h, joinAt)
				}
				signed = true
			}
		}
	}
	// Node 4 votes once its block sync has brought it the set that names
	// it and its driver has started (an observer polls every 500 ms), which
	// is a time, not a number of blocks: an idle-fast chain commits dozens
	// of blocks in it, each certified by the first quorum of votes.
	deadline := time.Now().Add(30 * time.Second)
	h := joinAt + 6
	for ; !signed && time.Now().Before(deadline); h++ {
		c.waitHeight(h+1, 30*time.Second, 0)
		for _, s := range c.block(0, h).GetCert().GetChildQc().GetSigs() {
			signed = signed || s.GetValidator() == 4
		}
	}
	if !signed {
		t.Fatalf("the new department's validator signed no commit certificate in 30 s (blocks %d to %d)", joinAt, h-1)
	}
	if a, b := c.block(0, joinAt-1).GetHeader().GetValidatorSetHash(), c.block(0, joinAt).GetHeader().GetValidatorSetHash(); string(a) == string(b) {
		t.Fatalf("headers at %d and %d name the same validator set", joinAt-1, joinAt)
	}

	// Leave: dept3, approved by 4 of the 5 departments.
	admins = append(admins, j.admin)
	leavePassed := c.passChange(admins, []int{0, 1, 2, 4}, "remove-dept3", &pb.SubmitProposal{
		Change: &pb.SubmitProposal_RemoveDepartment{RemoveDepartment: &pb.RemoveDepartment{DepartmentId: "dept3"}},
	})
	leaveAt := leavePassed + delay
	c.waitHeight(leaveAt+6, 90*time.Second, 0, 1, 2, 4)
	for _, i := range []int{0, 1, 2, 4} {
		if ids := c.validatorIDs(i); fmt.Sprint(ids) != "[dept0 dept1 dept2 dept4]" {
			t.Fatalf("node%d: validators in force %v after the removal took effect", i, ids)
		}
	}
	// From leaveAt the set is [dept0 dept1 dept2 dept4]: 4 validators,
	// certificates of at most 4 signers, none of them an index 4.
	for h := leaveAt; h < leaveAt+5; h++ {
		b := c.block(0, h)
		for _, s := range b.GetCert().GetChildQc().GetSigs() {
			if s.GetValidator() >= 4 {
				t.Fatalf("block %d: certificate signer %d in a set of 4", h, s.GetValidator())
			}
		}
		if ids := b.GetSignerIds(); slices.Contains(ids, "dept3") || len(ids) < 3 {
			t.Fatalf("block %d certified by %v after dept3 left", h, ids)
		}
	}
	if ids := c.block(0, joinAt+2).GetSignerIds(); len(ids) < 4 {
		t.Fatalf("block %d certified by %v: want the quorum of 4 of the 5 departments", joinAt+2, ids)
	}
	// The removed department's node is disconnected and refused.
	deadline = time.Now().Add(30 * time.Second)
	for c.connectedTo(0, c.peerID(3)) {
		if time.Now().After(deadline) {
			t.Fatal("node0 still connected to the removed department's node 30 s after the removal took effect")
		}
		time.Sleep(200 * time.Millisecond)
	}

	close(stop)
	<-loadDone
	if longest := <-stalls; longest >= 10*time.Second {
		t.Fatalf("node0's height stood still for %s under load", longest)
	} else {
		t.Logf("longest time node0's height stood still under load: %s", longest)
	}
	mu.Lock()
	all := acked
	mu.Unlock()
	for _, i := range []int{0, 1, 2, 4} {
		c.waitCommitted(i, all, 90*time.Second)
	}
	c.settle(60*time.Second, 0, 1, 2, 4)
	_, counts := c.checkAgreement(0, 1, 2, 4)
	exactlyOnce(t, all, counts)
	t.Logf("join passed at %d, in force at %d; leave passed at %d, in force at %d; %d txs", joinPassed, joinAt, leavePassed, leaveAt, len(all))
	c.kill(3, syscall.SIGTERM)
}

// joined is a department's node added with `govnode testnet join`.
type joined struct {
	department *pb.Department
	admin      admin
}

// join writes node k's home with `govnode testnet join` and adds it to the
// cluster (not started).
func (c *cluster) join(k int) joined {
	c.t.Helper()
	out, err := exec.Command(binary, "testnet", "join", "--out", c.dir, "--index", strconv.Itoa(k), "--output", "json").Output()
	if err != nil {
		c.t.Fatalf("govnode testnet join: %v", err)
	}
	var j struct {
		Node struct {
			APIAddr     string `json:"api_addr"`
			MetricsAddr string `json:"metrics_addr"`
			Admin       struct {
				Key string `json:"key"`
			} `json:"admin"`
		} `json:"node"`
		Department struct {
			ID           string   `json:"id"`
			Name         string   `json:"name"`
			ConsensusKey string   `json:"consensus_key"`
			PeerID       string   `json:"peer_id"`
			Addrs        []string `json:"addrs"`
			PeerBinding  string   `json:"peer_binding"`
		} `json:"department"`
	}
	if err := json.Unmarshal(out, &j); err != nil {
		c.t.Fatalf("testnet join output: %v\n%s", err, out)
	}
	vk, err := keystore.Load(filepath.Join(c.home(k), "keys", "validator.key"), "")
	if err != nil {
		c.t.Fatal(err)
	}
	ak, err := keystore.Load(j.Node.Admin.Key, "")
	if err != nil {
		c.t.Fatal(err)
	}
	if got := keyOf(vk.Public()); got != j.Department.ConsensusKey {
		c.t.Fatalf("testnet join printed consensus key %s, the key file holds %s", j.Department.ConsensusKey, got)
	}
	if s := vk.Public().GetScheme(); s != c.suite.Scheme() || ak.Public().GetScheme() != s {
		c.t.Fatalf("testnet join wrote %v consensus and %v admin keys on a %s chain", s, ak.Public().GetScheme(), c.suite)
	}
	// The binding join printed is the one this suite takes (none on
	// ed25519-sha256).
	binding, err := base64.StdEncoding.DecodeString(j.Department.PeerBinding)
	if err != nil {
		c.t.Fatalf("testnet join printed peer_binding %q: %v", j.Department.PeerBinding, err)
	}
	if want := c.peerBinding(vk, j.Department.ID, j.Department.PeerID); (want == nil) != (len(binding) == 0) {
		c.t.Fatalf("testnet join printed a %d-byte peer binding on a %s chain", len(binding), c.suite)
	} else if want != nil {
		if err := crypto.Verify(vk.Public(), crypto.PeerBindingSignBytes(c.chainID, j.Department.ID, j.Department.PeerID), binding); err != nil {
			c.t.Fatalf("testnet join's peer binding: %v", err)
		}
	}
	c.mu.Lock()
	c.n++
	c.apis = append(c.apis, j.Node.APIAddr)
	c.metrics = append(c.metrics, j.Node.MetricsAddr)
	// A joined node's API speaks TLS when the network's do (never in
	// these plaintext clusters).
	c.urls = append(c.urls, "http://"+j.Node.APIAddr)
	c.cas = append(c.cas, "")
	c.clients = append(c.clients, govnodev1connect.NewNodeServiceClient(http.DefaultClient, "http://"+j.Node.APIAddr,
		connect.WithInterceptors(nodetest.RetryBackpressure())))
	c.procs = append(c.procs, nil)
	c.exited = append(c.exited, nil)
	c.mu.Unlock()
	return joined{
		department: &pb.Department{Id: j.Department.ID, Name: j.Department.Name, ConsensusKey: vk.Public(),
			PeerId: j.Department.PeerID, Addrs: j.Department.Addrs, PeerBinding: binding},
		admin: admin{id: j.Department.ID + "-admin", key: ak},
	}
}

// peerBinding is department dept's peer binding of peerID, signed with
// its consensus key: on an sm2-sm3 chain the key's signature over
// crypto.PeerBindingSignBytes (Department.peer_binding, ARCHITECTURE.md §7
// "Faults and hostile input"), which an add-department or a rotation
// carries; nil on an ed25519-sha256 chain, which takes none.
func (c *cluster) peerBinding(key crypto.PrivateKey, dept, peerID string) []byte {
	c.t.Helper()
	if c.suite != crypto.SM2SM3 {
		return nil
	}
	b, err := key.Sign(crypto.PeerBindingSignBytes(c.chainID, dept, peerID))
	if err != nil {
		c.t.Fatal(err)
	}
	return b
}

// validatorKey is node i's consensus key, from its home.
func (c *cluster) validatorKey(i int) crypto.PrivateKey {
	c.t.Helper()
	k, err := keystore.Load(filepath.Join(c.home(i), "keys", "validator.key"), "")
	if err != nil {
		c.t.Fatal(err)
	}
	return k
}

// keyOf is a public key as the CLI prints it (scheme:base64).
func keyOf(pub *pb.PublicKey) string {
	return crypto.SchemeName(pub.GetScheme()) + ":" + base64.StdEncoding.EncodeToString(pub.GetKey())
}

// passChange has admins[approvers[0]] submit the proposal and the
// approvers vote for it; it returns the height at which it passed.
func (c *cluster) passChange(admins []admin, approvers []int, id string, sub *pb.SubmitProposal) uint64 {
	c.t.Helper()
	sub.ProposalId, sub.Title, sub.VotingEndHeight = id, id, c.height(0)+100_000
	first := admins[approvers[0]]
	c.commitTx(0, c.signed(first.id, first.key, &pb.TxBody{Action: &pb.TxBody_SubmitProposal{SubmitProposal: sub}}))
	for _, k := range approvers {
		c.commitTx(0, c.signed(admins[k].id, admins[k].key, &pb.TxBody{Action: &pb.TxBody_VoteProposal{VoteProposal: &pb.VoteProposal{
			ProposalId: id, Approve: true,
		}}}))
	}
	ctx, cancel := c.ctx()
	defer cancel()
	r, err := c.clients[0].QueryProposal(ctx, connect.NewRequest(&pb.QueryProposalRequest{ProposalId: id}))
	if err != nil {
		c.t.Fatalf("query proposal %s: %v", id, err)
	}
	if p := r.Msg.GetProposal(); p.GetStatus() != pb.ProposalStatus_PROPOSAL_STATUS_PASSED {
		c.t.Fatalf("proposal %s: %v (%s)", id, p.GetStatus(), p.GetFailureReason())
	}
	return r.Msg.GetProposal().GetDecidedHeight()
}

// validatorIDs are the departments of the set node i reports in force.
func (c *cluster) validatorIDs(i int) []string {
	c.t.Helper()
	st, err := c.status(i)
	if err != nil {
		c.t.Fatalf("status of node%d: %v", i, err)
	}
	var ids []string
	for _, v := range st.GetValidators().GetValidators() {
		ids = append(ids, v.GetId())
	}
	return ids
}

// peerID is node i's peer id, from testnet.json.
func (c *cluster) peerID(i int) string {
	c.t.Helper()
	return c.testnetNode(i).PeerID
}

// connectedTo reports whether node i reports a connection to peer id.
func (c *cluster) connectedTo(i int, id string) bool {
	c.t.Helper()
	st, err := c.status(i)
	if err != nil {
		c.t.Fatalf("status of node%d: %v", i, err)
	}
	for _, p := range st.GetPeers() {
		if p.GetPeerId() == id && p.GetConnected() {
			return true
		}
	}
	return false
}

// watchStalls polls node i's height until stop closes, then sends the
// longest time it stood still.
func (c *cluster) watchStalls(i int, stop <-chan struct{}) <-chan time.Duration {
	out := make(chan time.Duration, 1)
	go func() {
		var longest time.Duration
		var last uint64
		since := time.Now()
		for {
			select {
			case <-stop:
				out <- max(longest, time.Since(since))
				return
			case <-time.After(250 * time.Millisecond):
			}
			ctx, cancel := c.ctx()
			st, err := c.clients[i].Status(ctx, connect.NewRequest(&pb.StatusRequest{}))
			cancel()
			if err != nil {
				continue
			}
			if h := st.Msg.GetHeight(); h != last {
				longest = max(longest, time.Since(since))
				last, since = h, time.Now()
			}
		}
	}()
	return out
}
