package exec

import (
	"fmt"
	"sync/atomic"

	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Signature checks (ARCHITECTURE.md §5: a tx's signature covers its exact body
// bytes, checked with the signer's registered key).
//
// A node should verify each tx's signature once. The first check is
// usually the mempool's CheckTx (API submit or gossip), which records the
// verdict in the SigCache; the mempool's recheck after each commit, the
// proposal's validation and ApplyBlock then find it there. Txs a node meets
// first in a block (a proposal or block sync) are verified by
// PreverifyTxs (proposal validation, which fills the cache) or by
// ApplyBlock's first pass, as one batch split over Config.VerifyWorkers
// goroutines, instead of one at a time in the block's sequential pass.
//
// Batching never changes a verdict (crypto.Batch gives the verdict
// crypto.Verify gives, error text included), and a verdict reached ahead is
// used only if it was reached with the key the sequential pass finds
// registered for the signer when it reaches the tx: a key rotated by an
// earlier tx of the block, or a signer registered in it, is checked alone
// then. So ApplyBlock's results do not depend on the cache, the batching
// or the workers.

// SigStats counts an Executor's transaction signature checks since New.
type SigStats struct {
	// Verified is the number of signatures verified, alone or in a batch
	// (the second, single check of an entry of a failed batch is not
	// counted again).
	Verified uint64
	// Cached is the number of checks answered by the SigCache.
	Cached uint64
}

type sigCounters struct {
	verified, cached atomic.Uint64
}

// SigStats returns the signature check counts.
func (e *Executor) SigStats() SigStats {
	return SigStats{Verified: e.sigs.verified.Load(), Cached: e.sigs.cached.Load()}
}

// preTx is what a block's first pass learned about one tx, for the
// sequential pass to reuse.
type preTx struct {
	tx *Tx
	// pub is the key the signature was judged with, nil if it was not
	// judged ahead; sigErr is the verdict (nil when the SigCache held it).
	pub    *pb.PublicKey
	sigErr error
}

// sigCacheKey is the SigCache key of a tx's signature by pub: a verdict
// holds for one (tx, key) pair.
func sigCacheKey(txHash []byte, pub *pb.PublicKey) []byte {
	ck := make([]byte, 0, len(txHash)+len(pub.GetKey())+1)
	ck = append(append(append(ck, txHash...), byte(pub.GetScheme())), pub.GetKey()...)
	return crypto.Ed25519SHA256.Hash(ck) // a local cache key, never on chain
}

// cachedSig reports whether the SigCache holds a good verdict for the tx
// by pub.
func (e *Executor) cachedSig(txHash []byte, pub *pb.PublicKey) bool {
	if e.cfg.SigCache == nil || !e.cfg.SigCache.Seen(sigCacheKey(txHash, pub)) {
		return false
	}
	e.sigs.cached.Add(1)
	return true
}

// verifyAhead decodes txs and verifies, as one batch, the signatures of
// those that may pass the envelope checks against st and are not in the
// SigCache. Cheap checks come first so that a block of junk, replays
// (nonce below the signer's next) or txs of unknown or inactive signers
// costs no curve arithmetic. If remember is set, good verdicts go into
// the SigCache. The error is a storage failure.
func (e *Executor) verifyAhead(st *overlay, params *pb.Params, txs [][]byte, remember bool) ([]preTx, error) {
	pre := make([]preTx, len(txs))
	batch := crypto.NewBatch(len(txs))
	var idx []int
	for i, raw := range txs {
		p := &pre[i]
		p.tx = e.Tx(raw)
		if uint64(len(raw)) > params.GetMaxTxBytes() || p.tx.Err != nil {
			continue
		}
		stx, body := p.tx.Signed, p.tx.Body
		if body.GetChainId() != e.cfg.ChainID || ValidID(body.GetSigner()) != nil {
			continue
		}
		signer := &pb.Identity{}
		ok, err := st.getMsg(kIdentity(body.GetSigner()), signer)
		if err != nil {
			return nil, err
		}
		if !ok || signer.GetStatus() != pb.IdentityStatus_IDENTITY_STATUS_ACTIVE {
			continue
		}
		last, err := loadNonce(st, signer.GetId())
		if err != nil {
			return nil, err
		}
		if body.GetNonce() <= last {
			continue // a replay: refused before its signature matters
		}
		pub := signer.GetPublicKey()
		p.pub = pub
		if e.cachedSig(p.tx.Hash, pub) {
			continue // verified before: sigErr stays nil
		}
		batch.Add(pub, crypto.TxSignBytes(e.cfg.ChainID, stx.GetBody()), stx.GetSignature())
		idx = append(idx, i)
	}
	if len(idx) == 0 {
		return pre, nil
	}
	e.sigs.verified.Add(uint64(len(idx)))
	for j, err := range batch.Verify(e.cfg.VerifyWorkers) {
		p := &pre[idx[j]]
		p.sigErr = err
		if err == nil && remember && e.cfg.SigCache != nil {
			e.cfg.SigCache.Add(sigCacheKey(p.tx.Hash, p.pub))
		}
	}
	return pre, nil
}

// PreverifyTxs verifies the signatures of a proposed block's txs that the
// SigCache does not hold, as one batch against committed state r, and
// records those that verify in the SigCache, so that ApplyBlock does not
// verify them again when the block commits. It judges nothing: a tx whose
// signature fails is left for ApplyBlock to refuse (a block holding it is
// still valid), and a signer whose key an uncommitted block rotates is
// checked again then. It returns each tx hashed and decoded (from the
// Known table where it was), for a caller that admits them next
// (mempool.AddTx) not to do it again. The error is a storage failure or a
// state without genesis. Without a SigCache it does nothing and returns
// nil.
func (e *Executor) PreverifyTxs(r Reader, txs [][]byte) ([]*Tx, error) {
	if e.cfg.SigCache == nil || len(txs) == 0 {
		return nil, nil
	}
	st := newOverlay(readerKV{r})
	params := &pb.Params{}
	ok, err := st.getMsg(keyParams, params)
	if err != nil {
		return nil, fmt.Errorf("exec: preverify: %w", err)
	}
	if !ok {
		return nil, fmt.Errorf("exec: preverify: %w", ErrNotInitialised)
	}
	pre, err := e.verifyAhead(st, params, txs, true)
	if err != nil {
		return nil, fmt.Errorf("exec: preverify: %w", err)
	}
	facts := make([]*Tx, len(pre))
	for i := range pre {
		facts[i] = pre[i].tx
	}
	return facts, nil
}

// verifySig checks the signature over the exact body bytes with the
// signer's registered key: with the verdict a first pass reached with that
// key (pre), else with the SigCache's, else alone. Only CheckTx (inBlock
// false) adds a verdict it reached alone to the cache: the mempool's
// recheck after each commit and the block that carries the tx reuse it;
// nothing reuses ApplyBlock's.
func (e *Executor) verifySig(env *envelope, inBlock bool, pre *preTx) error {
	pub := env.signer.GetPublicKey()
	var err error
	switch {
	case pre != nil && pre.pub != nil && crypto.PublicKeyEqual(pre.pub, pub):
		err = pre.sigErr
	case e.cachedSig(env.hash, pub):
		return nil
	default:
		e.sigs.verified.Add(1)
		err = crypto.Verify(pub, crypto.TxSignBytes(e.cfg.ChainID, env.stx.GetBody()), env.stx.GetSignature())
		if err == nil && !inBlock && e.cfg.SigCache != nil {
			e.cfg.SigCache.Add(sigCacheKey(env.hash, pub))
		}
	}
	if err != nil {
		return fail(pb.ResultCode_RESULT_CODE_BAD_SIGNATURE, "signature by %s does not verify with its registered key: %v", env.signer.GetId(), err)
	}
	return nil
}
