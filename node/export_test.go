package node

import pb "github.com/govnode/govnode/proto/govnode/v1"

// AddEvidence hands ev to n's evidence pool, as the consensus driver does
// when its core finds an equivocation.
func AddEvidence(n *Node, ev *pb.EquivocationEvidence) { n.evidence.AddEvidence(ev) }
