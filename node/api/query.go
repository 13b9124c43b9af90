package api

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/consensus"
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

// ErrTxDropped: a tx the node admitted was dropped from its mempool since,
// because committed state came to refuse it (its signer's department was
// removed, its signer revoked, ...); the error says why.
var ErrTxDropped = errors.New("admitted, then dropped from the mempool")

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
		if reason, ok := s.d.Mempool.Dropped(hash); ok {
			return store.TxLocation{}, nil, fmt.Errorf("%w: %s", ErrTxDropped, reason)
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
// than the latest executed state; the answer says which height. With it go
// the proofs of the validator sets that took force after genesis up to the
// head (validatorSetProofs), so a client that trusts only the genesis can
// follow them to the set that certifies the head.
func (s *Server) stateProof(key []byte) (*pb.StateProof, error) {
	head, _ := s.d.Ledger.Height()
	if head == 0 {
		return nil, errors.New("no committed block attests a state yet")
	}
	resp, err := s.blockResponse(head)
	if err != nil {
		return nil, err
	}
	// The head is the newest committed block, so its certificate is its
	// own.
	if resp.Cert.GetHeight() != head {
		return nil, fmt.Errorf("commit certificate of head %d names height %d", head, resp.Cert.GetHeight())
	}
	return s.proveUnder(resp, key)
}

// proveUnder proves key in the state that committed block resp attests
// (its header's state_height), with the block's commit certificate, the
// headers that link it to the block the certificate commits directly when
// the certificate does not carry them, the validator set in force at the
// block and the proofs that lead to that set from genesis.
func (s *Server) proveUnder(resp *pb.GetBlockResponse, key []byte) (*pb.StateProof, error) {
	b := resp.Height
	sp, err := s.proveAt(resp.Block.GetHeader(), resp.Header.GetStateHeight(), key)
	if err != nil {
		return nil, err
	}
	sp.Cert = resp.Cert
	if sp.Chain, err = s.certChain(b, resp.Cert); err != nil {
		return nil, err
	}
	// The set that certifies block b: the one in force at its height. The
	// records at or below the head never change again
	// (exec.ValidatorSets).
	if sp.Validators, err = exec.ValidatorSetAt(s.d.State, b); err != nil {
		return nil, fmt.Errorf("validator set at %d: %w", b, err)
	}
	if sp.ValidatorSetProofs, err = s.validatorSetProofs(b); err != nil {
		return nil, err
	}
	return sp, nil
}

// certChain is what a client needs besides cert to check that block b is
// committed: nothing when cert commits b directly or carries its own chain
// of headers (pb.CommitCert.chain), else the ledger's headers from b's
// child up to the block cert commits directly (blockexec certToStore keeps
// a long chain's certificate without them, relying on the ledger's later
// blocks).
func (s *Server) certChain(b uint64, cert *pb.CommitCert) ([][]byte, error) {
	c := cert.GetHeight()
	switch {
	case c < b:
		return nil, fmt.Errorf("commit certificate of block %d names height %d, below it", b, c)
	case c == b || len(cert.GetChain()) > 0:
		return nil, nil
	case c-b > consensus.MaxCertChain:
		return nil, fmt.Errorf("commit certificate of block %d commits block %d directly, more than %d headers above it", b, c, consensus.MaxCertChain)
	}
	chain := make([][]byte, 0, c-b)
	for h := b + 1; h <= c; h++ {
		blk, err := s.block(h)
		if err != nil {
			return nil, fmt.Errorf("the headers linking block %d to block %d its certificate commits: %w", b, c, err)
		}
		chain = append(chain, blk.GetHeader())
	}
	return chain, nil
}

// proveAt proves key in the state at height at, which header attests.
func (s *Server) proveAt(header []byte, at uint64, key []byte) (*pb.StateProof, error) {
	value, proof, err := s.d.Ledger.GetWithProof(at, key)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("prove %q at height %d: %w", key, at, err)
	}
	if proof == nil {
		// The tree has no version at: absence comes with a proof.
		return nil, fmt.Errorf("prove %q at height %d: %w", key, at, errStateNotHeld)
	}
	root, err := s.d.Ledger.StateRoot(at)
	if err != nil {
		return nil, fmt.Errorf("state root %d: %w", at, err)
	}
	return &pb.StateProof{StateHeight: at, Key: key, Value: value, StateRoot: root[:], Proof: proof.Marshal(), Header: header}, nil
}

// MaxValidatorSetProofs bounds the validator-set changes one state proof
// follows from genesis (the CLI refuses more).
const MaxValidatorSetProofs = 128

// validatorSetProofs proves, for each validator set in force from an
// effective height E with 1 < E <= head, its record at key valset/E in the
// state that the root block E-1 attests, with that block's commit
// certificate: the root block is certified by the set before, so a client
// can check each set under the one before it (ARCHITECTURE.md §4, "Proofs
// across set changes"). That certificate proves the root on its own: when
// it commits a block of the old set's suffix, the ledger stored it with
// the headers between (pb.CommitCert.chain). validator_change_delay >= 3
// puts every set in the state its root block attests; a chain run under
// the earlier floor of 1 may hold a set decided too close to E, which
// cannot be proven this way: an error says so.
func (s *Server) validatorSetProofs(head uint64) ([]*pb.StateProof, error) {
	sets, err := exec.ValidatorSets(s.d.State, exec.GenesisHeight+2, head)
	if err != nil {
		return nil, fmt.Errorf("validator sets up to %d: %w", head, err)
	}
	if len(sets) > MaxValidatorSetProofs {
		return nil, fmt.Errorf("%d validator-set changes up to height %d; a proof follows at most %d", len(sets), head, MaxValidatorSetProofs)
	}
	out := make([]*pb.StateProof, 0, len(sets))
	for _, vs := range sets {
		e := vs.GetEffectiveHeight()
		rootResp, err := s.blockResponse(e - 1)
		if err != nil {
			return nil, err
		}
		key := exec.ValidatorSetKey(e)
		sp, err := s.proveAt(rootResp.Block.GetHeader(), rootResp.Header.GetStateHeight(), key)
		if err != nil {
			return nil, err
		}
		got := &pb.ValidatorSet{}
		if sp.GetValue() == nil || proto.Unmarshal(sp.GetValue(), got) != nil || !proto.Equal(got, vs) {
			return nil, fmt.Errorf("the validator set in force from height %d is not yet in the state its root block %d attests (height %d): "+
				"it was decided too close to %d to be proven to a light client", e, e-1, sp.GetStateHeight(), e)
		}
		sp.Cert = rootResp.Cert
		if c := rootResp.Cert.GetHeight(); c > e-1 && len(rootResp.Cert.GetChain()) == 0 {
			// The root's certificate commits a block of the old set's
			// suffix directly, which the ledger does not hold (its blocks
			// from e on are the next set's); the ledger stores such a
			// certificate with the headers between (blockexec
			// Executor.Commit), so one without them predates that.
			return nil, fmt.Errorf("the commit certificate of root block %d of the validator set in force from %d commits block %d "+
				"of the set before and does not carry the headers that link them: it cannot be proven to a light client", e-1, e, c)
		}
		out = append(out, sp)
	}
	return out, nil
}
