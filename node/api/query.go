package api

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/ledger/blockexec"
	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/store"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// committedTx looks a tx up in the tx index.
func (s *Server) committedTx(hash []byte) (store.TxLocation, *pb.TxResult, error) {
	var h [32]byte
	copy(h[:], hash)
	loc, raw, err := s.d.Ledger.TxByHash(h)
	if err != nil {
		return store.TxLocation{}, nil, err
	}
	res := &pb.TxResult{}
	if err := proto.Unmarshal(raw, res); err != nil {
		return store.TxLocation{}, nil, fmt.Errorf("decode result of tx %x: %w", hash, err)
	}
	return loc, res, nil
}

// block loads committed block h.
func (s *Server) block(h uint64) (*pb.Block, error) { return blockexec.LoadBlock(s.d.Ledger, h) }

// WaitForTx waits until the tx with hash is committed or ctx ends. It
// returns where the tx was committed and its result.
func (s *Server) WaitForTx(ctx context.Context, hash []byte) (store.TxLocation, *pb.TxResult, error) {
	for {
		_, changed := s.d.Commits.Wait()
		loc, res, err := s.committedTx(hash)
		if err == nil {
			return loc, res, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return store.TxLocation{}, nil, err
		}
		select {
		case <-ctx.Done():
			return store.TxLocation{}, nil, ctx.Err()
		case <-changed:
		case <-s.d.Done:
			return store.TxLocation{}, nil, errors.New("node is shutting down")
		}
	}
}

// blockResponse is GetBlock's answer for committed height h.
func (s *Server) blockResponse(h uint64) (*pb.GetBlockResponse, error) {
	hash, raw, err := s.d.Ledger.BlockByHeight(h)
	if err != nil {
		return nil, fmt.Errorf("load block %d: %w", h, err)
	}
	b := &pb.Block{}
	if err := proto.Unmarshal(raw, b); err != nil {
		return nil, fmt.Errorf("decode block %d: %w", h, err)
	}
	hdr := &pb.Header{}
	if err := proto.Unmarshal(b.GetHeader(), hdr); err != nil {
		return nil, fmt.Errorf("decode header %d: %w", h, err)
	}
	cert, err := s.commitCert(h)
	if err != nil {
		return nil, err
	}
	resp := &pb.GetBlockResponse{Block: b, Cert: cert, Hash: hash[:], Height: h, Header: hdr}
	if sigs := cert.GetChildQc().GetSigs(); len(sigs) > 0 {
		// The QC is the certifying set's, which is the one in force at the
		// block's height (its epoch's; a suffix child is that epoch's too).
		vs, err := exec.ValidatorSetAt(s.d.State, cert.GetHeight())
		if err != nil {
			return nil, fmt.Errorf("validator set at %d: %w", cert.GetHeight(), err)
		}
		for _, sg := range sigs {
			if i := int(sg.GetValidator()); i < len(vs.GetValidators()) {
				resp.SignerIds = append(resp.SignerIds, vs.GetValidators()[i].GetId())
			}
		}
	}
	return resp, nil
}

func (s *Server) commitCert(h uint64) (*pb.CommitCert, error) {
	raw, err := s.d.Ledger.CommitCert(h)
	if err != nil {
		return nil, fmt.Errorf("load commit certificate %d: %w", h, err)
	}
	c := &pb.CommitCert{}
	if err := proto.Unmarshal(raw, c); err != nil {
		return nil, fmt.Errorf("decode commit certificate %d: %w", h, err)
	}
	return c, nil
}

// stateProof proves the value (or absence) of key in the newest state that
// a committed header attests: the head block's header names state_height S
// and the state root after S, and its commit certificate proves the header.
// The proof is therefore of the state at S, which may be a little older
// than the latest executed state; the answer says which height.
func (s *Server) stateProof(key []byte) (*pb.StateProof, error) {
	head, _ := s.d.Ledger.Height()
	if head == 0 {
		return nil, errors.New("no committed block attests a state yet")
	}
	resp, err := s.blockResponse(head)
	if err != nil {
		return nil, err
	}
	at := resp.Header.GetStateHeight()
	value, proof, err := s.d.Ledger.GetWithProof(at, key)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("prove %q at height %d: %w", key, at, err)
	}
	root, err := s.d.Ledger.StateRoot(at)
	if err != nil {
		return nil, fmt.Errorf("state root %d: %w", at, err)
	}
	vs := s.d.Validators()
	sp := &pb.StateProof{
		StateHeight: at,
		Key:         key,
		Value:       value,
		StateRoot:   root[:],
		Proof:       proof.Marshal(),
		Header:      resp.Block.GetHeader(),
		Cert:        resp.Cert,
		Validators:  vs,
	}
	// Chain from the head's child to the directly committed block: the
	// head is the newest committed block, so its certificate is its own.
	if resp.Cert.GetHeight() != head {
		return nil, fmt.Errorf("commit certificate of head %d names height %d", head, resp.Cert.GetHeight())
	}
	return sp, nil
}
