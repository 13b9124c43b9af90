package node

import (
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/state"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Status describes the node for the API and `govnode status`.
func (n *Node) Status() (*pb.StatusResponse, error) {
	h, _ := n.store.Height()
	root, err := n.store.StateRoot(h)
	if err != nil {
		return nil, err
	}
	vs, _ := n.app.validators()
	txs, _ := n.mempool.Size()
	st := &pb.StatusResponse{
		ChainId:        n.genesis.GetChainId(),
		Height:         h,
		StateRoot:      root[:],
		Validators:     vs,
		Syncing:        n.syncing.Load(),
		NodeId:         n.host.ID().String(),
		Version:        n.version,
		GenesisHash:    n.genesisHash,
		FaultModel:     n.genesis.GetFaultModel(),
		MempoolTxs:     uint64(txs),
		ValidatorIndex: int32(n.self),
	}
	if h > 0 {
		hash, _, err := n.store.BlockByHeight(h)
		if err != nil {
			return nil, err
		}
		st.LastBlockHash = hash[:]
	}
	if cs := n.status.Load(); cs != nil {
		st.View = cs.View
		st.Leader = uint32(cs.Leader)
	}
	connected := 0
	for _, p := range n.host.Peers() {
		info := &pb.PeerInfo{PeerId: p.ID.String(), Connected: p.Connected, RttUs: uint64(p.RTT.Microseconds())}
		if !p.LastSeen.IsZero() {
			info.LastSeenUnixMs = p.LastSeen.UnixMilli()
		}
		if p.Member && int(p.ValidatorIndex) < len(vs.GetValidators()) {
			info.DepartmentId = vs.GetValidators()[p.ValidatorIndex].GetId()
		}
		if p.Connected {
			connected++
		}
		st.Peers = append(st.Peers, info)
	}
	n.metrics.Peers.Set(float64(connected))
	return st, nil
}

func (n *Node) peerByString(s string) (peer.ID, bool) {
	id, err := peer.Decode(s)
	return id, err == nil
}

func toStateChanges(cs []exec.Change) []state.Change {
	out := make([]state.Change, len(cs))
	for i, c := range cs {
		out[i] = state.Change{Key: c.Key, Value: c.Value, Delete: c.Delete}
	}
	return out
}
