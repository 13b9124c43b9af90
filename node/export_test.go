package node

import pb "github.com/govnode/govnode/proto/govnode/v1"

// AddEvidence hands ev to n's evidence pool, as the consensus driver does
// when its core finds an equivocation.
func AddEvidence(n *Node, ev *pb.EquivocationEvidence) { n.evidence.AddEvidence(ev) }

// EvidenceHandled is the number of pieces of evidence n's pool is done with.
func EvidenceHandled(n *Node) uint64 { return n.evidence.Handled() }

// AddToMempool admits tx to n's mempool without gossiping it, as if the
// tx gossip to other nodes had been lost.
func AddToMempool(n *Node, tx []byte) error {
	_, err := n.mempool.Add(tx)
	return err
}
