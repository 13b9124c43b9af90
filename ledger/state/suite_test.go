package state_test

import (
	"fmt"
	"testing"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/ledger/internal/ledgertest"
	"github.com/govnode/govnode/ledger/state"
	"github.com/govnode/govnode/ledger/state/proof"
)

// TestTreeOfEachSuite: a tree opened with the SM3 hasher of an "sm2-sm3"
// chain holds the same keys as a SHA-256 tree, under another root; its
// proofs verify with SM3 only, and its integrity walk checks SM3 hashes.
func TestTreeOfEachSuite(t *testing.T) {
	var changes []state.Change
	for i := range 300 {
		changes = append(changes, set(fmt.Sprintf("key-%d", i), fmt.Sprintf("value-%d", i)))
	}
	roots := map[crypto.Suite]state.Hash{}
	for _, suite := range []crypto.Suite{crypto.Ed25519SHA256, crypto.SM2SM3} {
		db := ledgertest.MemDB(t)
		o := state.DefaultOptions()
		o.Hasher = proof.Hasher(suite)
		tr, err := state.OpenWithOptions(db, prefix, o)
		if err != nil {
			t.Fatal(err)
		}
		root := commit(t, db, tr, 0, changes)
		root = commit(t, db, tr, 1, []state.Change{set("key-7", "changed"), del("key-8")})
		roots[suite] = root
		if n, err := tr.CheckIntegrity(1); err != nil || n == 0 {
			t.Fatalf("%s: integrity of version 1: %d records, %v", suite, n, err)
		}
		other := crypto.SM2SM3
		if suite == crypto.SM2SM3 {
			other = crypto.Ed25519SHA256
		}
		for _, c := range []struct {
			key   string
			value []byte
		}{{"key-7", []byte("changed")}, {"key-8", nil}, {"key-9", []byte("value-9")}, {"absent", nil}} {
			v, p, err := tr.GetWithProof(1, []byte(c.key))
			if err != nil || string(v) != string(c.value) {
				t.Fatalf("%s: %s = %q, %v; want %q", suite, c.key, v, err, c.value)
			}
			if err := state.Verify(proof.Hasher(suite), root, []byte(c.key), c.value, p); err != nil {
				t.Fatalf("%s: proof of %s: %v", suite, c.key, err)
			}
			if state.Verify(proof.Hasher(other), root, []byte(c.key), c.value, p) == nil {
				t.Fatalf("%s: proof of %s verifies with %s's hash too", suite, c.key, other)
			}
		}
		// Reopened with the other suite's hash, the tree fails its
		// integrity walk: a ledger must be opened with its chain's suite.
		o.Hasher = proof.Hasher(other)
		wrong, err := state.OpenWithOptions(db, prefix, o)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := wrong.CheckIntegrity(1); err == nil {
			t.Fatalf("%s tree passes its integrity walk under %s", suite, other)
		}
	}
	if roots[crypto.Ed25519SHA256] == roots[crypto.SM2SM3] {
		t.Fatal("the two suites give the same root")
	}
}

// TestHasherOfSuite: a crypto suite converts to its tree hasher by value
// (proof.Hasher(suite)), and the two hash alike.
func TestHasherOfSuite(t *testing.T) {
	for _, suite := range []crypto.Suite{crypto.Ed25519SHA256, crypto.SM2SM3} {
		for _, b := range [][]byte{nil, []byte("abc"), make([]byte, 1000)} {
			if proof.Hasher(suite).Sum(b) != suite.Sum256(b) {
				t.Fatalf("%s: the tree's hasher and the suite's hash differ", suite)
			}
		}
	}
	if proof.Hasher(crypto.Ed25519SHA256) != proof.SHA256 || proof.Hasher(crypto.SM2SM3) != proof.SM3 {
		t.Fatal("suite and hasher values do not correspond")
	}
	o := state.DefaultOptions()
	o.Hasher = 7
	if _, err := state.OpenWithOptions(ledgertest.MemDB(t), prefix, o); err == nil {
		t.Fatal("an unknown hasher accepted")
	}
}
