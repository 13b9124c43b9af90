package store_test

import (
	"errors"
	"testing"

	"github.com/govnode/govnode/ledger/store"
)

// A prepared block is invisible until written: the head, its block, its
// txs and its state stay those of the block below; the state root is
// known before the write; another Prepare or Commit is refused until the
// write returns, and a written block is not written again.
func TestPrepareThenWrite(t *testing.T) {
	s := storeAt(t, t.TempDir(), 1)
	defer s.Close()
	d := spec.block(2)
	p, err := s.Prepare(d)
	if err != nil {
		t.Fatal(err)
	}
	if p.Height() != 2 {
		t.Fatalf("prepared height %d", p.Height())
	}
	if h, _ := s.Height(); h != 1 {
		t.Fatalf("height %d while block 2 is prepared, want 1", h)
	}
	if _, _, err := s.BlockByHeight(2); err == nil {
		t.Fatal("prepared block readable before its write")
	}
	if _, _, err := s.TxByHash(d.Txs[0].Hash); err == nil {
		t.Fatal("prepared block's tx readable before its write")
	}
	if _, err := s.StateRoot(2); err == nil {
		t.Fatal("prepared block's state root stored before its write")
	}
	// Its state changes are not read (latest values, value cache) before
	// the write: every key reads as the block below left it.
	for _, c := range d.Changes {
		got, gerr := s.Get(c.Key)
		want, werr := s.State().Get(1, c.Key)
		if (gerr == nil) != (werr == nil) || string(got) != string(want) {
			t.Fatalf("key %q reads %q (%v) while block 2 is prepared; at height 1 it is %q (%v)", c.Key, got, gerr, want, werr)
		}
	}
	if _, err := s.Prepare(spec.block(3)); !errors.Is(err, store.ErrPending) {
		t.Fatalf("Prepare over a prepared block: %v, want ErrPending", err)
	}
	if err := s.Commit(spec.block(2)); !errors.Is(err, store.ErrPending) {
		t.Fatalf("Commit over a prepared block: %v, want ErrPending", err)
	}

	if err := p.Write(); err != nil {
		t.Fatal(err)
	}
	if h, _ := s.Height(); h != 2 {
		t.Fatalf("height %d after the write, want 2", h)
	}
	if root, err := s.StateRoot(2); err != nil || root != p.Root() {
		t.Fatalf("stored root %x (%v), prepared %x", root, err, p.Root())
	}
	if err := p.Write(); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("second Write: %v, want ErrInvalid", err)
	}
	ref := newRefTree(t, spec)
	ref.check(s, 2, 7)

	if err := s.Commit(spec.block(3)); err != nil {
		t.Fatal(err)
	}
	ref.check(s, 3, 7)
}

// A ledger closed with a block prepared and not written (a node stopped
// or killed while the write was in flight) opens at the block below, and
// the block commits again with the same root.
func TestPreparedNotWrittenIsNotStored(t *testing.T) {
	dir := t.TempDir()
	s := storeAt(t, dir, 1)
	p, err := s.Prepare(spec.block(2))
	if err != nil {
		t.Fatal(err)
	}
	root := p.Root()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir)
	defer s.Close()
	if h, _ := s.Height(); h != 1 {
		t.Fatalf("reopened at %d, want 1", h)
	}
	if err := s.Commit(spec.block(2)); err != nil {
		t.Fatal(err)
	}
	if got, err := s.StateRoot(2); err != nil || got != root {
		t.Fatalf("root %x (%v) after committing again, prepared %x", got, err, root)
	}
	newRefTree(t, spec).check(s, 2, 5)
}
