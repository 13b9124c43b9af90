package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/syndtr/goleveldb/leveldb"

	"github.com/govnode/govnode/ledger/state"
)

// CommitData is everything the ledger writes for one committed block.
// The store keeps the slices until Commit returns and never changes them.
type CommitData struct {
	Height    uint64
	BlockHash [32]byte
	// Block is the serialized pb.Block whose hash is BlockHash.
	Block []byte
	// Cert is the serialized pb.CommitCert for the block.
	Cert []byte
	// Txs has one entry per transaction of the block, in block order.
	Txs []TxResult
	// Changes are the block's state changes (any order, one per key).
	Changes []state.Change
	// BlockEvents are the block's own events (not its transactions', which
	// are in their results), serialized by the caller; nil if none.
	BlockEvents []byte
}

// TxResult is the result of one transaction.
type TxResult struct {
	// Hash is the transaction hash.
	Hash [32]byte
	// Result is the serialized pb.TxResult.
	Result []byte
}

// InitGenesis commits height 0: the genesis state and no block. It is
// refused once any height is committed.
func (s *Store) InitGenesis(changes []state.Change) error {
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	if s.readOnly {
		return fmt.Errorf("init genesis: %w: store is read-only", ErrInvalid)
	}
	if h, ok := s.Height(); ok {
		return fmt.Errorf("init genesis: %w: ledger already at height %d", ErrHeight, h)
	}
	root, w, err := s.tree.Stage(0, changes)
	if err != nil {
		return fmt.Errorf("init genesis: %w: %v", ErrInvalid, err)
	}
	size := 256
	for i := range changes {
		size += 2 + len(changes[i].Key) + len(changes[i].Value) + 11
	}
	tb := newBatch(w.Size())
	w.ApplyTo(tb)
	b := newBatch(size)
	recs := latestRecords(changes, 2)
	m := meta{stateRoot: root}
	recs = append(recs, record{k: metaKey(0), v: m.encode()}, record{k: headKey(), v: be64(0)})
	putSorted(b, recs)
	return s.write(tb, b, 0, root, changes)
}

// Commit writes block c.Height with its certificate, results, tx index,
// state changes and the new height in one synced batch. The height must be
// the head plus one. On an error nothing is written; an error from the
// write itself (disk full, I/O) leaves the store at the previous height,
// and the caller should stop: the node cannot go on without its ledger.
func (s *Store) Commit(c *CommitData) error {
	p, err := s.Prepare(c)
	if err != nil {
		return err
	}
	return p.Write()
}

// Prepared is a block staged by Prepare and not yet written: its records
// are built and its state root computed. Write writes it; until then the
// store stays at the block below, its readers see nothing of it, and
// another Prepare or Commit is refused (ErrPending). Write may run on
// another goroutine than Prepare: a block's LevelDB writes are most of its
// commit's time, and the node's consensus loop goes on meanwhile
// (ARCHITECTURE.md §5 "Storage").
type Prepared struct {
	s       *Store
	height  uint64
	root    state.Hash
	tb, b   *leveldb.Batch
	changes []state.Change
}

// Height is the block's height.
func (p *Prepared) Height() uint64 { return p.height }

// Root is the state root after the block.
func (p *Prepared) Root() state.Hash { return p.root }

// Prepare checks block c.Height (the head plus one), stages its state
// changes and builds its batches, and writes nothing. The store keeps the
// slices of c until Write returns.
func (s *Store) Prepare(c *CommitData) (*Prepared, error) {
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	if s.prepared != nil {
		return nil, fmt.Errorf("commit block %d: %w: block %d is prepared and not written", c.Height, ErrPending, s.prepared.height)
	}
	if err := s.validate(c); err != nil {
		return nil, fmt.Errorf("commit block %d: %w", c.Height, err)
	}
	// The block's own records do not depend on the state root: build and
	// sort them on another core while the tree is staged (Stage is the
	// longest step, and only its top level runs in parallel).
	var (
		recs []record
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		recs = blockRecords(c, s.indexedTxs(c))
	}()
	root, w, err := s.tree.Stage(c.Height, c.Changes)
	<-done
	if err != nil {
		return nil, fmt.Errorf("commit block %d: %w: %v", c.Height, ErrInvalid, err)
	}
	h := c.Height
	m := meta{blockHash: c.BlockHash, stateRoot: root, txCount: uint32(len(c.Txs))}
	recs = insertSorted(recs, record{k: metaKey(h), v: m.encode()})
	recs = insertSorted(recs, record{k: headKey(), v: be64(h)})
	size := len(c.Block) + len(c.Cert) + len(c.BlockEvents) + 256
	for i := range c.Txs {
		size += 2*(2+32+11) + 12 + 4 + len(c.Txs[i].Result)
	}
	for i := range c.Changes {
		size += 2 + len(c.Changes[i].Key) + len(c.Changes[i].Value) + 11
	}
	tb := reuseBatch(&s.treeBatch, &s.treeBatchCap, w.Size())
	w.ApplyTo(tb)
	b := reuseBatch(&s.batch, &s.batchCap, size)
	putSorted(b, recs)
	s.prepared = &Prepared{s: s, height: h, root: root, tb: tb, b: b, changes: c.Changes}
	return s.prepared, nil
}

// Write writes the prepared block (synced) and makes it the head. After an
// error the block is not the head and the store should not be written
// again: the node cannot go on without its ledger.
func (p *Prepared) Write() error {
	s := p.s
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	if s.prepared != p {
		return fmt.Errorf("commit block %d: %w: not the prepared block", p.height, ErrInvalid)
	}
	s.prepared = nil
	if err := s.write(p.tb, p.b, p.height, p.root, p.changes); err != nil {
		return fmt.Errorf("commit block %d: %w", p.height, err)
	}
	return nil
}

// indexedTxs are the txs of c the tx index already holds: committed in an
// earlier block (a replay, which the state machine records as failed). The
// index keeps naming the first inclusion, so a replay cannot make a
// committed tx look failed to whoever looks it up. Absent keys cost a
// bloom-filter probe each.
func (s *Store) indexedTxs(c *CommitData) map[[32]byte]bool {
	var out map[[32]byte]bool
	for i := range c.Txs {
		if _, err := s.get(txKey(c.Txs[i].Hash)); err == nil {
			if out == nil {
				out = map[[32]byte]bool{}
			}
			out[c.Txs[i].Hash] = true
		}
	}
	return out
}

// blockRecords are the records of block c other than the state tree, the
// meta and the head: latest values, block, certificate, hash index, events,
// results and the tx index of the txs not in indexed, sorted by key.
func blockRecords(c *CommitData, indexed map[[32]byte]bool) []record {
	h := c.Height
	recs := latestRecords(c.Changes, 4+2*len(c.Txs)+2)
	recs = append(recs,
		record{k: blockKey(h), v: c.Block},
		record{k: certKey(h), v: c.Cert},
		record{k: hashKey(c.BlockHash), v: be64(h)})
	if len(c.BlockEvents) > 0 {
		recs = append(recs, record{k: eventsKey(h), v: c.BlockEvents})
	}
	// One allocation for the results and tx locations of all transactions;
	// the batch copies them.
	n := 0
	for i := range c.Txs {
		n += 32 + len(c.Txs[i].Result) + 12
	}
	buf := make([]byte, 0, n)
	for i := range c.Txs {
		tx := &c.Txs[i]
		o := len(buf)
		buf = append(buf, tx.Hash[:]...)
		buf = append(buf, tx.Result...)
		rec := buf[o:len(buf):len(buf)]
		o = len(buf)
		buf = binary.BigEndian.AppendUint64(buf, h)
		buf = binary.BigEndian.AppendUint32(buf, uint32(i))
		loc := buf[o:len(buf):len(buf)]
		recs = append(recs, record{k: resultKey(h, uint32(i)), v: rec})
		if !indexed[tx.Hash] {
			recs = append(recs, record{k: txKey(tx.Hash), v: loc})
		}
	}
	sortRecords(recs)
	return recs
}

// maxTxs bounds the transactions of one block (indexes are 32 bits).
const maxTxs = 1 << 24

func (s *Store) validate(c *CommitData) error {
	if s.readOnly {
		return fmt.Errorf("%w: store is read-only", ErrInvalid)
	}
	head, ok := s.Height()
	if !ok {
		return ErrNoGenesis
	}
	if c.Height != head+1 {
		return fmt.Errorf("%w: height %d on head %d", ErrHeight, c.Height, head)
	}
	if c.BlockHash == ([32]byte{}) {
		return fmt.Errorf("%w: zero block hash", ErrInvalid)
	}
	if len(c.Block) == 0 {
		return fmt.Errorf("%w: empty block", ErrInvalid)
	}
	if len(c.Cert) == 0 {
		return fmt.Errorf("%w: no commit certificate", ErrInvalid)
	}
	if len(c.Txs) > maxTxs {
		return fmt.Errorf("%w: %d transactions", ErrInvalid, len(c.Txs))
	}
	if ok, err := s.db.Has(hashKey(c.BlockHash), nil); err != nil {
		return fmt.Errorf("look up block hash: %w", err)
	} else if ok {
		return fmt.Errorf("%w: block hash %x already stored", ErrInvalid, c.BlockHash)
	}
	seen := make(map[[32]byte]struct{}, len(c.Txs))
	for i := range c.Txs {
		if _, dup := seen[c.Txs[i].Hash]; dup {
			return fmt.Errorf("%w: transaction %x twice in the block", ErrInvalid, c.Txs[i].Hash)
		}
		seen[c.Txs[i].Hash] = struct{}{}
	}
	return nil
}

// maxKeptBatch bounds the batch buffer a Store keeps between commits: a
// block's batch is a few MiB, a genesis may be far larger.
const maxKeptBatch = 64 << 20

// reuseBatch returns an empty batch with room for about size bytes,
// reusing the previous commit's buffer *batch (of *capacity bytes) when it
// is large enough: allocating and zeroing a few MiB for every block costs
// more than filling them. LevelDB copies a batch into its journal and
// memtable and keeps no reference once Write returns. Only the writer
// (under commitMu) calls it, for Store.batch and Store.treeBatch.
func reuseBatch(batch **leveldb.Batch, capacity *int, size int) *leveldb.Batch {
	if *batch != nil && size <= *capacity {
		(*batch).Reset()
		return *batch
	}
	b := newBatch(size)
	if size <= maxKeptBatch {
		*batch, *capacity = b, size
	}
	return b
}

// newBatch returns a batch with room for about size bytes: a
// leveldb.Batch grows by small steps once it holds thousands of records,
// copying itself each time.
func newBatch(size int) *leveldb.Batch {
	b := new(leveldb.Batch)
	if err := b.Load(make([]byte, 0, size)); err != nil {
		panic("store: load empty batch: " + err.Error()) // an empty batch always loads
	}
	return b
}

// record is one Put (or, with del, Delete) of a batch.
type record struct {
	k, v []byte
	del  bool
}

// latestRecords are the latest-value copies of changes, with room for
// extra more records.
func latestRecords(changes []state.Change, extra int) []record {
	recs := make([]record, 0, len(changes)+extra)
	for _, c := range changes {
		recs = append(recs, record{k: latestKey(c.Key), v: c.Value, del: c.Delete})
	}
	return recs
}

func compareRecords(x, y record) int { return bytes.Compare(x.k, y.k) }

// sortRecords sorts recs by key (see state.Writes.ApplyTo: sorted inserts
// are much cheaper for LevelDB's memtable). Keys are distinct.
func sortRecords(recs []record) { slices.SortFunc(recs, compareRecords) }

// insertSorted inserts r into recs, sorted by key, keeping them sorted.
func insertSorted(recs []record, r record) []record {
	i, _ := slices.BinarySearchFunc(recs, r, compareRecords)
	return slices.Insert(recs, i, r)
}

// putSorted adds recs to b in key order.
func putSorted(b *leveldb.Batch, recs []record) {
	if !slices.IsSortedFunc(recs, compareRecords) {
		sortRecords(recs)
	}
	for _, r := range recs {
		if r.del {
			b.Delete(r.k)
		} else {
			b.Put(r.k, r.v)
		}
	}
}

// write commits a block: the tree's batch tb synced into the tree's
// database, then the blocks' batch b synced (ARCHITECTURE.md §5,
// "Storage"); then it brings the value cache up to the state changes and
// advances the head.
//
// The order is what makes a crash harmless: the blocks' batch names the
// new state root only once the tree's records for it are durable. A crash
// between the two writes leaves the tree one version ahead of the blocks;
// Open discards that version (newStore), and committing the block again
// writes the same records.
func (s *Store) write(tb, b *leveldb.Batch, h uint64, root state.Hash, changes []state.Change) error {
	if err := s.treeDB.Write(tb, syncWrite); err != nil {
		return fmt.Errorf("write state tree batch: %w", err)
	}
	if err := s.db.Write(b, syncWrite); err != nil {
		return fmt.Errorf("write batch: %w", err)
	}
	s.values.apply(changes)
	if err := s.tree.Committed(h, root); err != nil {
		return err
	}
	s.mu.Lock()
	s.hasHead, s.head = true, h
	s.mu.Unlock()
	return nil
}
