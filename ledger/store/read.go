package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/util"

	"github.com/govnode/govnode/ledger/state"
)

// get reads a record, mapping absence to ErrNotFound. The value is the
// caller's.
func (s *Store) get(k []byte) ([]byte, error) {
	v, err := s.db.Get(k, nil)
	if errors.Is(err, leveldb.ErrNotFound) {
		return nil, ErrNotFound
	}
	return v, err
}

func (s *Store) meta(h uint64) (meta, error) {
	b, err := s.get(metaKey(h))
	if err != nil {
		return meta{}, fmt.Errorf("load height %d: %w", h, err)
	}
	m, ok := decodeMeta(b)
	if !ok {
		return meta{}, fmt.Errorf("load height %d: %w: meta of %d bytes", h, ErrCorrupt, len(b))
	}
	return m, nil
}

// BlockByHeight returns the hash and bytes of the block at height h (h ≥ 1;
// the genesis height has no block).
func (s *Store) BlockByHeight(h uint64) (hash [32]byte, block []byte, err error) {
	m, err := s.meta(h)
	if err != nil {
		return hash, nil, err
	}
	if h == 0 {
		return hash, nil, fmt.Errorf("load block 0: %w: the genesis height has no block", ErrNotFound)
	}
	block, err = s.get(blockKey(h))
	if err != nil {
		return hash, nil, fmt.Errorf("load block %d: %w", h, err)
	}
	return m.blockHash, block, nil
}

// BlockByHash returns the height and bytes of the block with this hash.
func (s *Store) BlockByHash(hash [32]byte) (height uint64, block []byte, err error) {
	hb, err := s.get(hashKey(hash))
	if err != nil {
		return 0, nil, fmt.Errorf("load block %x: %w", hash, err)
	}
	if len(hb) != 8 {
		return 0, nil, fmt.Errorf("load block %x: %w: height record of %d bytes", hash, ErrCorrupt, len(hb))
	}
	height = binary.BigEndian.Uint64(hb)
	block, err = s.get(blockKey(height))
	if err != nil {
		return 0, nil, fmt.Errorf("load block %d: %w", height, err)
	}
	return height, block, nil
}

// CommitCert returns the commit certificate bytes of the block at h.
func (s *Store) CommitCert(h uint64) ([]byte, error) {
	c, err := s.get(certKey(h))
	if err != nil {
		return nil, fmt.Errorf("load commit certificate %d: %w", h, err)
	}
	return c, nil
}

// BlockEvents returns the serialized block-level events stored with block
// h (nil when it had none).
func (s *Store) BlockEvents(h uint64) ([]byte, error) {
	if _, err := s.meta(h); err != nil {
		return nil, err
	}
	v, err := s.get(eventsKey(h))
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load events %d: %w", h, err)
	}
	return v, nil
}

// TxLocation is where a transaction was committed.
type TxLocation struct {
	Height uint64
	Index  uint32
}

// TxByHash returns where the transaction with this hash was committed and
// its result. Should one hash be committed twice (a leader replaying a
// committed tx, which the state machine records as failed), the index
// names the first inclusion.
func (s *Store) TxByHash(hash [32]byte) (TxLocation, []byte, error) {
	lb, err := s.get(txKey(hash))
	if err != nil {
		return TxLocation{}, nil, fmt.Errorf("load tx %x: %w", hash, err)
	}
	if len(lb) != 12 {
		return TxLocation{}, nil, fmt.Errorf("load tx %x: %w: index record of %d bytes", hash, ErrCorrupt, len(lb))
	}
	loc := TxLocation{Height: binary.BigEndian.Uint64(lb), Index: binary.BigEndian.Uint32(lb[8:])}
	rec, err := s.get(resultKey(loc.Height, loc.Index))
	if err != nil {
		return TxLocation{}, nil, fmt.Errorf("load tx %x result at %d/%d: %w", hash, loc.Height, loc.Index, err)
	}
	if len(rec) < 32 || !bytes.Equal(rec[:32], hash[:]) {
		return TxLocation{}, nil, fmt.Errorf("load tx %x: %w: result at %d/%d is another tx's", hash, ErrCorrupt, loc.Height, loc.Index)
	}
	return loc, rec[32:], nil
}

// Results returns the results of the block at h, one per transaction in
// block order.
func (s *Store) Results(h uint64) ([]TxResult, error) {
	m, err := s.meta(h)
	if err != nil {
		return nil, err
	}
	out := make([]TxResult, 0, m.txCount)
	it := s.db.NewIterator(util.BytesPrefix(key(tagResult, be64(h))), nil)
	defer it.Release()
	for it.Next() {
		k, v := it.Key(), it.Value()
		if len(k) != 2+8+4 || len(v) < 32 || binary.BigEndian.Uint32(k[10:]) != uint32(len(out)) {
			return nil, fmt.Errorf("load results %d: %w: record %x", h, ErrCorrupt, k)
		}
		r := TxResult{Result: bytes.Clone(v[32:])}
		copy(r.Hash[:], v)
		out = append(out, r)
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("load results %d: %w", h, err)
	}
	if len(out) != int(m.txCount) {
		return nil, fmt.Errorf("load results %d: %w: %d results for %d transactions", h, ErrCorrupt, len(out), m.txCount)
	}
	return out, nil
}

// StateRoot returns the state root after the block at h (at the genesis,
// after the genesis state).
func (s *Store) StateRoot(h uint64) (state.Hash, error) {
	m, err := s.meta(h)
	if err != nil {
		return state.Hash{}, err
	}
	return m.stateRoot, nil
}

// Get returns the latest value of a state key (at Height()).
func (s *Store) Get(k []byte) ([]byte, error) {
	v, found, hit, gen := s.values.get(k)
	if !hit {
		var err error
		v, err = s.get(latestKey(k))
		switch {
		case err == nil:
			found = true
		case errors.Is(err, ErrNotFound):
		default:
			return nil, fmt.Errorf("get %q: %w", k, err)
		}
		s.values.fill(k, v, found, gen)
	}
	if !found {
		return nil, fmt.Errorf("get %q: %w", k, ErrNotFound)
	}
	return v, nil
}

// IteratePrefix calls fn for every state key starting with prefix, in key
// order, with its latest value, on a consistent snapshot. fn must not keep
// key or value after it returns; returning false stops the iteration.
func (s *Store) IteratePrefix(prefix []byte, fn func(key, value []byte) bool) error {
	snap, err := s.db.GetSnapshot()
	if err != nil {
		return fmt.Errorf("iterate %q: %w", prefix, err)
	}
	defer snap.Release()
	it := snap.NewIterator(util.BytesPrefix(latestKey(prefix)), nil)
	defer it.Release()
	for it.Next() {
		if !fn(it.Key()[2:], it.Value()) {
			break
		}
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("iterate %q: %w", prefix, err)
	}
	return nil
}

// GetWithProof returns the value of a state key at height h with a proof
// against StateRoot(h); see state.Tree.GetWithProof.
func (s *Store) GetWithProof(h uint64, k []byte) ([]byte, *state.Proof, error) {
	return s.tree.GetWithProof(h, k)
}
