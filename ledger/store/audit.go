package store

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/syndtr/goleveldb/leveldb/util"
)

// Audit checks the whole ledger on a consistent snapshot: every height up
// to the head has its meta record, block, certificate, hash index and one
// result per transaction; every tx index entry names a stored result of the
// same transaction; no record lies above the head; the state tree at every
// height has the recorded root, the head's tree passes a full integrity
// walk, and the latest-value copy holds exactly the tree's keys and values.
// It reads the whole database, so it is for tests, `govnode verify` and
// repair tools, not for every start. A failure wraps ErrCorrupt.
func (s *Store) Audit() error {
	s.commitMu.Lock() // a stable head for the duration
	defer s.commitMu.Unlock()
	h, ok := s.Height()
	if err := checkHead(s.db, s.treeDB, s.suite); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if tree, err := openTree(s.db, s.treeDB, 0, s.suite); err != nil {
		return fmt.Errorf("audit: %w: %v", ErrCorrupt, err)
	} else if v, has := tree.LatestVersion(); has != ok || v != h {
		return fmt.Errorf("audit: %w: head %d (present %v), state tree at version %d (present %v)", ErrCorrupt, h, ok, v, has)
	}
	if !ok {
		return nil
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("audit: %w: "+format, append([]any{ErrCorrupt}, a...)...)
	}
	metas := make([]meta, h+1)
	for x := uint64(0); x <= h; x++ {
		m, err := s.meta(x)
		if err != nil {
			return bad("height %d: %v", x, err)
		}
		metas[x] = m
		root, err := s.tree.Root(x)
		if err != nil || root != m.stateRoot {
			return bad("height %d: tree root %x (%v), recorded %x", x, root, err, m.stateRoot)
		}
		if x == 0 {
			if m.txCount != 0 || m.blockHash != ([32]byte{}) {
				return bad("genesis meta names a block")
			}
			continue
		}
		if _, err := s.get(blockKey(x)); err != nil {
			return bad("block %d: %v", x, err)
		}
		if _, err := s.get(certKey(x)); err != nil {
			return bad("commit certificate %d: %v", x, err)
		}
		if hb, err := s.get(hashKey(m.blockHash)); err != nil || !bytes.Equal(hb, be64(x)) {
			return bad("block %d: hash %x not indexed to it", x, m.blockHash)
		}
		if _, err := s.Results(x); err != nil {
			return bad("%v", err)
		}
	}

	snap, err := s.db.GetSnapshot()
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	defer snap.Release()
	it := snap.NewIterator(util.BytesPrefix([]byte{schemaByte}), nil)
	defer it.Release()
	latest := 0
	for it.Next() {
		k, v := it.Key(), it.Value()
		if len(k) < 2 {
			return bad("key %x", k)
		}
		rest := k[2:]
		heightOf := func() uint64 { return binary.BigEndian.Uint64(rest) }
		switch k[1] {
		case tagHead, tagTree:
		case tagMeta, tagBlock, tagCert, tagEvents:
			if len(rest) != 8 || heightOf() > h {
				return bad("record %x above the head %d", k, h)
			}
		case tagHash:
			if len(rest) != 32 || len(v) != 8 || binary.BigEndian.Uint64(v) > h ||
				!bytes.Equal(metas[binary.BigEndian.Uint64(v)].blockHash[:], rest) {
				return bad("block hash record %x → %x", k, v)
			}
		case tagResult:
			if len(rest) != 12 || heightOf() > h ||
				binary.BigEndian.Uint32(rest[8:]) >= metas[heightOf()].txCount {
				return bad("result record %x outside the blocks up to %d", k, h)
			}
		case tagTx:
			if len(rest) != 32 || len(v) != 12 {
				return bad("tx index record %x", k)
			}
			th, ti := binary.BigEndian.Uint64(v), binary.BigEndian.Uint32(v[8:])
			if th > h {
				return bad("tx %x indexed at height %d above the head %d", rest, th, h)
			}
			rec, err := snap.Get(resultKey(th, ti), nil)
			if err != nil || len(rec) < 32 || !bytes.Equal(rec[:32], rest) {
				return bad("tx %x indexed at %d/%d, where its result is not (%v)", rest, th, ti, err)
			}
		case tagLatest:
			tv, err := s.tree.Get(h, rest)
			if err != nil || !bytes.Equal(tv, v) {
				return bad("latest value of %q is %q, tree at %d has %q (%v)", rest, v, h, tv, err)
			}
			latest++
		default:
			return bad("unknown record %x", k)
		}
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	n, err := s.tree.CheckIntegrity(h)
	if err != nil {
		return bad("%v", err)
	}
	if n != latest {
		return bad("state tree at %d holds %d keys, latest-value copy %d", h, n, latest)
	}
	return nil
}
