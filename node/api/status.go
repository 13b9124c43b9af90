package api

import (
	"fmt"

	"github.com/govnode/govnode/ledger/exec"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// status describes the node for the API and `govnode status`. It also
// sets the peers gauge from the peers it counts: only a Status call
// updates that gauge.
func (s *Server) status() (*pb.StatusResponse, error) {
	h, _ := s.d.Ledger.Height()
	root, err := s.d.Ledger.StateRoot(h)
	if err != nil {
		return nil, err
	}
	vs := s.d.Validators()
	model := vs.GetFaultModel() // the model in force; governance may switch it
	if model == "" {
		model = s.d.FaultModel
	}
	txs, _ := s.d.Mempool.Size()
	st := &pb.StatusResponse{
		ChainId:        s.d.ChainID,
		Height:         h,
		StateRoot:      root[:],
		Validators:     vs,
		Syncing:        s.d.Syncing(),
		NodeId:         s.nodeID(),
		Version:        s.d.Version,
		GenesisHash:    s.d.GenesisHash,
		FaultModel:     model,
		CryptoSuite:    s.d.Suite.String(),
		MempoolTxs:     uint64(txs),
		ValidatorIndex: int32(s.validatorIndex()),
	}
	// Decided and not yet in force (ARCHITECTURE.md §4, "Reconfiguration").
	if st.PendingValidatorSets, err = exec.PendingValidatorSets(s.d.State, h); err != nil {
		return nil, fmt.Errorf("pending validator sets: %w", err)
	}
	if h > 0 {
		hash, _, err := s.d.Ledger.BlockByHeight(h)
		if err != nil {
			return nil, err
		}
		st.LastBlockHash = hash[:]
	}
	if s.d.PendingUpgrade != nil {
		st.PendingUpgrade = s.d.PendingUpgrade()
	}
	if cs := s.d.Consensus(); cs != nil {
		st.View = cs.View
		st.Leader = uint32(cs.Leader)
	}
	for _, p := range s.d.Peers() {
		info := &pb.PeerInfo{PeerId: p.ID.String(), Connected: p.Live(), RttUs: uint64(p.RTT.Microseconds())}
		if !p.LastSeen.IsZero() {
			info.LastSeenUnixMs = p.LastSeen.UnixMilli()
		}
		if p.Member && int(p.ValidatorIndex) < len(vs.GetValidators()) {
			info.DepartmentId = vs.GetValidators()[p.ValidatorIndex].GetId()
		}
		st.Peers = append(st.Peers, info)
	}
	return st, nil
}

func (s *Server) nodeID() string {
	if s.d.NodeID == nil {
		return ""
	}
	return s.d.NodeID()
}

func (s *Server) validatorIndex() int {
	if s.d.ValidatorIndex == nil {
		return -1
	}
	return s.d.ValidatorIndex()
}
