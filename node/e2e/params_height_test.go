package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/keystore"
	"github.com/govnode/govnode/ledger/exec"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Governance changes the chain parameters while txs are pending, and the
// change applies at one height for everyone: a block is built and checked
// under the params in committed state at its state_height
// (ARCHITECTURE.md §5), and no node's persisted state stops it from
// restarting. The measured halt this reproduces: a passed proposal set
// max_block_txs 5000 -> 2 with 6 txs pending; the leader reaped with the
// limit it read at start, every follower refused its block under the
// live limit, the height stopped, and on restart all four nodes exited
// with "persisted block: ... block has 5 txs, max 2". Governance no
// longer accepts a max_block_txs below exec.MinMaxBlockTxs (64), so the
// test lowers 5000 -> 64 with 160 txs pending, then sends 320 at once.
//
// Three steps on one 4-validator network:
//  1. lower max_block_txs with txs pending: every tx commits, and every
//     block holds no more txs than the params at its state_height allow;
//  2. stop all four nodes (SIGTERM) and restart them: each comes up and
//     the chain goes on;
//  3. raise it back: with more txs pending than the old limit, a block
//     holds more, without a restart; then lower it again with txs pending
//     and cut the power of all four nodes (SIGKILL) the moment the change
//     commits, while blocks built under the old limit may be in flight:
//     each restarts and the chain goes on.
//
// Every node holds the same blocks and state roots throughout.
func TestParamsChangeAppliesAtOneHeight(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end network test")
	}
	const low = exec.MinMaxBlockTxs
	c := newCluster(t, 4, "byzantine")
	all := []int{0, 1, 2, 3}
	admins := c.admins()
	accts := c.accounts()
	base := c.chainParams(0)
	if base.GetMaxBlockTxs() <= low {
		t.Fatalf("genesis max_block_txs %d, want above %d", base.GetMaxBlockTxs(), low)
	}
	lowered := proto.Clone(base).(*pb.Params)
	lowered.MaxBlockTxs = low
	sched := paramsSchedule{{0, base}}

	// 1. Lower the limit while 160 txs are pending.
	load := c.signLoad(accts, 10)
	d1 := c.passParams(admins, "lower-1", lowered, func() { c.sendAll(load, len(accts), all) })
	sched = append(sched, paramsAt{d1, lowered})
	t.Logf("max_block_txs %d -> %d in force from height %d", base.GetMaxBlockTxs(), low, d1)
	for _, i := range all {
		c.waitCommitted(i, c.hashes(load), 30*time.Second)
	}
	// 320 more at once: the leaders must split them under the new limit.
	after := c.signLoad(accts, 20)
	c.sendAll(after, len(accts), all)
	for _, i := range all {
		c.waitCommitted(i, c.hashes(after), 30*time.Second)
	}
	c.settle(20*time.Second, all...)
	c.checkAgreement(all...)
	c.checkBlockParams(0, sched)

	// 2. Stop all four nodes and restart them.
	top := c.height(0)
	for _, i := range all {
		c.kill(i, syscall.SIGTERM)
	}
	c.restartAll()
	more := c.submitLoad(2, all...)
	for _, i := range all {
		c.waitCommitted(i, more, 30*time.Second)
	}
	if h := c.height(0); h <= top {
		t.Fatalf("height %d after the restart, was %d", h, top)
	}

	// 3. Raise the limit, then lower it again with txs pending, and cut the
	// power of all four nodes as the lowering commits.
	d2 := c.passParams(admins, "raise", base, nil)
	sched = append(sched, paramsAt{d2, base})
	// The raise applies at once, without a restart: with more txs pending
	// than the old limit, a block holds more than it (nodes restarted under
	// the lowered params used to keep it as their consensus limit).
	load = c.signLoad(accts, 20)
	c.sendAll(load, len(accts), all)
	for _, i := range all {
		c.waitCommitted(i, c.hashes(load), 30*time.Second)
	}
	if n := c.largestBlock(0, d2, c.height(0)); n <= low {
		t.Fatalf("after max_block_txs went back to %d at height %d, with %d txs sent at once, the largest block holds %d txs",
			base.GetMaxBlockTxs(), d2, len(load), n)
	} else {
		t.Logf("after the raise at height %d: a block of %d txs", d2, n)
	}
	load = c.signLoad(accts, 10)
	d3 := c.passParams(admins, "lower-2", lowered, func() { c.sendAll(load, len(accts), all) })
	c.killAll()
	sched = append(sched, paramsAt{d3, lowered})
	t.Logf("raised at height %d, lowered again at %d, then every node killed", d2, d3)
	c.restartAll()
	// The restarted nodes first commit the blocks their safety states
	// carried, which may hold the accounts' txs: nonces are read once the
	// chain is idle (read before, one was stale in a clean-clone CI run).
	c.settle(30*time.Second, all...)
	c.syncNonces(accts)
	last := c.submitLoad(2, all...)
	for _, i := range all {
		c.waitCommitted(i, last, 30*time.Second)
	}
	c.settle(20*time.Second, all...)
	c.checkAgreement(all...)
	for _, i := range all {
		c.checkBlockParams(i, sched)
	}
}

// paramsAt are the params in committed state from height on.
type paramsAt struct {
	height uint64
	params *pb.Params
}

// paramsSchedule is a chain's params changes in height order.
type paramsSchedule []paramsAt

// at returns the params in committed state at height h.
func (s paramsSchedule) at(h uint64) *pb.Params {
	var p *pb.Params
	for _, c := range s {
		if c.height <= h {
			p = c.params
		}
	}
	return p
}

// checkBlockParams checks every block node i holds against the params in
// force at its state_height: the rule every validator applies, so a block
// that breaks it must never have been committed. It logs the largest
// block under each limit.
func (c *cluster) checkBlockParams(i int, sched paramsSchedule) {
	c.t.Helper()
	largest := map[uint64]int{}
	top := c.height(i)
	for h := uint64(1); h <= top; h++ {
		b := c.block(i, h)
		hdr := b.GetHeader()
		p := sched.at(hdr.GetStateHeight())
		n := len(b.GetBlock().GetTxs())
		if uint64(n) > p.GetMaxBlockTxs() {
			c.t.Fatalf("node%d block %d (state_height %d) has %d txs, max_block_txs there is %d",
				i, h, hdr.GetStateHeight(), n, p.GetMaxBlockTxs())
		}
		largest[p.GetMaxBlockTxs()] = max(largest[p.GetMaxBlockTxs()], n)
		for _, ch := range sched[1:] {
			if h+2 >= ch.height && h <= ch.height+3 && i == 0 {
				c.t.Logf("block %d: state_height %d, %d txs (params changed at %d)", h, hdr.GetStateHeight(), n, ch.height)
			}
		}
	}
	c.t.Logf("node%d: heights 1..%d; largest block under each max_block_txs: %v", i, top, largest)
}

// largestBlock is the most txs in a block of node i whose state_height
// is from lo to hi.
func (c *cluster) largestBlock(i int, lo, hi uint64) int {
	c.t.Helper()
	n := 0
	for h := lo + 1; h <= c.height(i); h++ {
		if b := c.block(i, h); b.GetHeader().GetStateHeight() >= lo && b.GetHeader().GetStateHeight() <= hi {
			n = max(n, len(b.GetBlock().GetTxs()))
		}
	}
	return n
}

// admin is a department admin, who submits and votes on proposals.
type admin struct {
	id  string
	key crypto.PrivateKey
}

// admins loads the key of each department's admin, dept<i>-admin.
func (c *cluster) admins() []admin {
	c.t.Helper()
	var out []admin
	for i := range c.n {
		k, err := keystore.Load(filepath.Join(c.home(i), "keys", "admin.key"), "")
		if err != nil {
			c.t.Fatal(err)
		}
		out = append(out, admin{id: fmt.Sprintf("dept%d-admin", i), key: k})
	}
	return out
}

// signed is body signed by signer's key with signer's next nonce.
func (c *cluster) signed(signer string, key crypto.PrivateKey, body *pb.TxBody) []byte {
	c.t.Helper()
	c.mu.Lock()
	c.nonces[signer]++
	body.ChainId, body.Signer, body.Nonce = c.chainID, signer, c.nonces[signer]
	c.mu.Unlock()
	raw, err := proto.Marshal(body)
	if err != nil {
		c.t.Fatal(err)
	}
	sig, err := key.Sign(crypto.TxSignBytes(c.chainID, raw))
	if err != nil {
		c.t.Fatal(err)
	}
	tx, err := proto.Marshal(&pb.SignedTx{Body: raw, Signature: sig})
	if err != nil {
		c.t.Fatal(err)
	}
	return tx
}

// commitTx submits tx to node i and waits for its commit with an OK
// result; it returns the height.
func (c *cluster) commitTx(i int, tx []byte) uint64 {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	r, err := c.clients[i].SubmitTx(ctx, connect.NewRequest(&pb.SubmitTxRequest{Tx: tx, WaitForCommit: true, WaitTimeoutMs: 20_000}))
	if err != nil {
		c.t.Fatalf("submit to node%d: %v", i, err)
	}
	if !r.Msg.GetCommitted() || r.Msg.GetResult().GetCode() != pb.ResultCode_RESULT_CODE_OK {
		c.t.Fatalf("tx on node%d: committed %v, %v %s", i, r.Msg.GetCommitted(), r.Msg.GetResult().GetCode(), r.Msg.GetResult().GetReason())
	}
	return r.Msg.GetHeight()
}

// passParams has admins[0] propose params and the admins of departments
// 0..2 (3 of 4, above two thirds) approve; beforeLastVote, if set, runs
// before the deciding vote is sent. It returns the height at which the
// proposal passed, from which the params are in committed state.
func (c *cluster) passParams(admins []admin, id string, params *pb.Params, beforeLastVote func()) uint64 {
	c.t.Helper()
	c.commitTx(0, c.signed(admins[0].id, admins[0].key, &pb.TxBody{Action: &pb.TxBody_SubmitProposal{SubmitProposal: &pb.SubmitProposal{
		ProposalId: id, Title: "params " + id, VotingEndHeight: c.height(0) + 100_000,
		Change: &pb.SubmitProposal_UpdateParams{UpdateParams: params},
	}}}))
	vote := func(k int) uint64 {
		return c.commitTx(k, c.signed(admins[k].id, admins[k].key, &pb.TxBody{Action: &pb.TxBody_VoteProposal{VoteProposal: &pb.VoteProposal{
			ProposalId: id, Approve: true,
		}}}))
	}
	vote(0)
	vote(1)
	if beforeLastVote != nil {
		beforeLastVote()
	}
	h := vote(2)
	ctx, cancel := c.ctx()
	defer cancel()
	r, err := c.clients[2].QueryProposal(ctx, connect.NewRequest(&pb.QueryProposalRequest{ProposalId: id}))
	if err != nil {
		c.t.Fatalf("query proposal %s: %v", id, err)
	}
	if p := r.Msg.GetProposal(); p.GetStatus() != pb.ProposalStatus_PROPOSAL_STATUS_PASSED || p.GetDecidedHeight() != h {
		c.t.Fatalf("proposal %s: %v decided at %d, want passed at %d (%s)", id, p.GetStatus(), p.GetDecidedHeight(), h, p.GetFailureReason())
	}
	return h
}

// chainParams are the params in node i's committed state.
func (c *cluster) chainParams(i int) *pb.Params {
	c.t.Helper()
	ctx, cancel := c.ctx()
	defer cancel()
	r, err := c.clients[i].QueryState(ctx, connect.NewRequest(&pb.QueryStateRequest{Key: exec.ParamsKey()}))
	if err != nil {
		c.t.Fatalf("query params on node%d: %v", i, err)
	}
	if !r.Msg.GetFound() {
		c.t.Fatalf("node%d has no params in state", i)
	}
	p := &pb.Params{}
	if err := proto.Unmarshal(r.Msg.GetValue(), p); err != nil {
		c.t.Fatal(err)
	}
	return p
}

// signLoad signs perAccount grants from each account, in nonce order.
func (c *cluster) signLoad(accts []account, perAccount int) [][]byte {
	c.t.Helper()
	var out [][]byte
	for range perAccount {
		for _, a := range accts {
			out = append(out, c.grantTx(a))
		}
	}
	return out
}

// sendAll submits txs signed by per accounts (as signLoad orders them)
// without waiting for their commit, each account's in nonce order to one
// node, all accounts at once; it returns once the nodes admitted them.
func (c *cluster) sendAll(txs [][]byte, per int, nodes []int) {
	c.t.Helper()
	errs := make(chan error, per)
	for j := range per {
		go func() {
			node := nodes[j%len(nodes)]
			for k := j; k < len(txs); k += per {
				ctx, cancel := c.ctx()
				_, err := c.clients[node].SubmitTx(ctx, connect.NewRequest(&pb.SubmitTxRequest{Tx: txs[k]}))
				cancel()
				if err != nil {
					errs <- fmt.Errorf("submit to node%d: %w", node, err)
					return
				}
			}
			errs <- nil
		}()
	}
	for range per {
		if err := <-errs; err != nil {
			c.t.Fatal(err)
		}
	}
}

// hashes are the chain's hashes of txs.
func (c *cluster) hashes(txs [][]byte) [][]byte {
	out := make([][]byte, len(txs))
	for i, tx := range txs {
		out[i] = c.suite.Hash(tx)
	}
	return out
}

// restartAll starts every node (all stopped) and waits until each
// answers and is connected to all the others. A node that exits, which a
// node whose persisted state it refuses does soon after its API is up,
// fails the test at once with its log.
func (c *cluster) restartAll() {
	c.t.Helper()
	for i := range c.n {
		c.start(i)
	}
	deadline := time.Now().Add(60 * time.Second)
	for i := range c.n {
		c.waitUp(i)
		for {
			if !c.running(i) {
				c.t.Fatalf("node%d exited after its restart:\n%s", i, c.logTail(i))
			}
			connected := 0
			st, err := c.status(i)
			for _, p := range st.GetPeers() {
				if p.GetConnected() {
					connected++
				}
			}
			if err == nil && connected == c.n-1 {
				break
			}
			if time.Now().After(deadline) {
				c.t.Fatalf("node%d has %d connected peers after its restart, want %d (err %v)", i, connected, c.n-1, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// syncNonces sets each account's next nonce from node 0's committed
// state (txs admitted but not committed before a power cut are gone).
func (c *cluster) syncNonces(accts []account) {
	c.t.Helper()
	for _, a := range accts {
		ctx, cancel := c.ctx()
		r, err := c.clients[0].QueryState(ctx, connect.NewRequest(&pb.QueryStateRequest{Key: exec.NonceKey(a.id)}))
		cancel()
		if err != nil {
			c.t.Fatalf("nonce of %s: %v", a.id, err)
		}
		var last uint64
		for _, b := range r.Msg.GetValue() {
			last = last<<8 | uint64(b)
		}
		c.mu.Lock()
		c.nonces[a.id] = last
		c.mu.Unlock()
	}
}
