package node_test

import (
	"fmt"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/node"
	"github.com/govnode/govnode/node/nodetest"
	"github.com/govnode/govnode/p2p/p2ptest"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Issue 8 on a 4-validator cluster: proposals travel hash-only and the
// followers resolve them from their mempools; txs that reached only three
// of the four mempools (their gossip to node3 lost) still commit on every
// node, node3 fetching them from the proposer.
func TestHashOnlyProposalsCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 4-node cluster")
	}
	cl := nodetest.NewCluster(t, 4, nodetest.Options{Seed: 8})
	off := cl.Official
	sum := func(series string, nodes ...*nodetest.Node) float64 {
		var s float64
		for _, n := range nodes {
			s += metric(t, n, series)
		}
		return s
	}
	const (
		received = `govnode_consensus_hash_only_proposals_total{outcome="received"}`
		mempool  = `govnode_consensus_hash_only_proposals_total{outcome="mempool"}`
		fetched  = `govnode_consensus_hash_only_proposals_total{outcome="fetched"}`
		failed   = `govnode_consensus_hash_only_proposals_total{outcome="failed"}`
		txsIn    = `govnode_consensus_fetched_txs_total`
	)

	// Load through every node's API, gossiped as usual.
	var hashes [][]byte
	for i := range 200 {
		tx := off.Tx(nodetest.CreateRecord(fmt.Sprintf("load-%d", i), nodetest.BusinessLicense, "citizen0", []byte("licence")))
		n := cl.Nodes[i%len(cl.Nodes)]
		resp, err := n.Client.SubmitTx(nodetest.Ctx(t), connect.NewRequest(&pb.SubmitTxRequest{Tx: tx}))
		if err != nil {
			t.Fatalf("SubmitTx %d: %v", i, err)
		}
		hashes = append(hashes, resp.Msg.GetTxHash())
	}
	waitCommittedEverywhere(t, cl, hashes)
	resolved := sum(mempool, cl.Nodes...) + sum(fetched, cl.Nodes...)
	t.Logf("load: hash-only proposals received %v, from mempool %v, fetched %v, failed %v",
		sum(received, cl.Nodes...), sum(mempool, cl.Nodes...), sum(fetched, cl.Nodes...), sum(failed, cl.Nodes...))
	if resolved == 0 {
		t.Fatal("no hash-only proposal was received and resolved")
	}

	// Txs in the mempools of nodes 0-2 only: whichever of them proposes,
	// node3 must fetch them.
	node3 := cl.Nodes[3]
	before := metric(t, node3, txsIn)
	hashes = hashes[:0]
	for i := range 20 {
		tx := off.Tx(nodetest.CreateRecord(fmt.Sprintf("unseen-%d", i), nodetest.BusinessLicense, "citizen0", []byte("licence")))
		for _, n := range cl.Nodes[:3] {
			if err := node.AddToMempool(n.Node, tx); err != nil {
				t.Fatalf("add tx %d: %v", i, err)
			}
		}
		hashes = append(hashes, crypto.Ed25519SHA256.Hash(tx))
	}
	waitCommittedEverywhere(t, cl, hashes)
	t.Logf("unseen txs: node3 fetched %v txs (hash-only proposals fetched %v, failed %v)",
		metric(t, node3, txsIn)-before, metric(t, node3, fetched), metric(t, node3, failed))
	if metric(t, node3, txsIn) <= before {
		t.Fatal("node3 committed txs it never received without fetching them for a hash-only proposal")
	}
}

// waitCommittedEverywhere waits until every node has committed every tx.
func waitCommittedEverywhere(t *testing.T, cl *nodetest.Cluster, hashes [][]byte) {
	t.Helper()
	for i, n := range cl.Nodes {
		for _, h := range hashes {
			p2ptest.Eventually(t, 60*time.Second, fmt.Sprintf("tx %x committed on node%d", h[:4], i), func() bool {
				r, err := n.Client.GetTx(nodetest.Ctx(t), connect.NewRequest(&pb.GetTxRequest{TxHash: h}))
				return err == nil && !r.Msg.GetPending()
			})
		}
	}
}
