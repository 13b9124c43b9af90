package node

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/ledger/store"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// committedTx looks a tx up in the tx index.
func (n *Node) committedTx(hash []byte) (store.TxLocation, *pb.TxResult, error) {
	var h [32]byte
	copy(h[:], hash)
	loc, raw, err := n.store.TxByHash(h)
	if err != nil {
		return store.TxLocation{}, nil, err
	}
	res := &pb.TxResult{}
	if err := proto.Unmarshal(raw, res); err != nil {
		return store.TxLocation{}, nil, fmt.Errorf("decode result of tx %x: %w", hash, err)
	}
	return loc, res, nil
}

// waitForTx waits until the tx with hash is committed or ctx ends.
func (n *Node) waitForTx(ctx context.Context, hash []byte) (store.TxLocation, *pb.TxResult, error) {
	for {
		_, changed := n.app.notify.Wait()
		loc, res, err := n.committedTx(hash)
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
		case <-n.done:
			return store.TxLocation{}, nil, errors.New("node is shutting down")
		}
	}
}

// blockResponse is GetBlock's answer for committed height h.
func (n *Node) blockResponse(h uint64) (*pb.GetBlockResponse, error) {
	hash, raw, err := n.store.BlockByHeight(h)
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
	cert, err := n.commitCert(h)
	if err != nil {
		return nil, err
	}
	return &pb.GetBlockResponse{Block: b, Cert: cert, Hash: hash[:], Height: h, Header: hdr}, nil
}

func (n *Node) commitCert(h uint64) (*pb.CommitCert, error) {
	raw, err := n.store.CommitCert(h)
	if err != nil {
		return nil, fmt.Errorf("load commit certificate %d: %w", h, err)
	}
	c := &pb.CommitCert{}
	if err := proto.Unmarshal(raw, c); err != nil {
		return nil, fmt.Errorf("decode commit certificate %d: %w", h, err)
	}
	return c, nil
}

// committedBlock loads block h with its certificate, as block sync sends it.
func (n *Node) committedBlock(h uint64) (*pb.CommittedBlock, error) {
	b, err := n.app.blockAt(h)
	if err != nil {
		return nil, err
	}
	cert, err := n.commitCert(h)
	if err != nil {
		return nil, err
	}
	return &pb.CommittedBlock{Block: b, Cert: cert}, nil
}

// stateProof proves the value (or absence) of key in the newest state that
// a committed header attests: the head block's header names state_height S
// and the state root after S, and its commit certificate proves the header.
// The proof is therefore of the state at S, which may be a little older
// than the latest executed state; the answer says which height.
func (n *Node) stateProof(key []byte) (*pb.StateProof, error) {
	head, _ := n.store.Height()
	if head == 0 {
		return nil, errors.New("no committed block attests a state yet")
	}
	resp, err := n.blockResponse(head)
	if err != nil {
		return nil, err
	}
	s := resp.Header.GetStateHeight()
	value, proof, err := n.store.GetWithProof(s, key)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("prove %q at height %d: %w", key, s, err)
	}
	root, err := n.store.StateRoot(s)
	if err != nil {
		return nil, fmt.Errorf("state root %d: %w", s, err)
	}
	vs, _ := n.app.validators()
	sp := &pb.StateProof{
		StateHeight: s,
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
