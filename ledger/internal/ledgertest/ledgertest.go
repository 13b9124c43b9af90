package ledgertest

import (
	"bytes"
	"crypto/sha256"
	"slices"
	"testing"

	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/storage"
)

// MemDB returns an in-memory LevelDB closed at the end of the test.
func MemDB(tb testing.TB) *leveldb.DB {
	tb.Helper()
	db, err := leveldb.Open(storage.NewMemStorage(), nil)
	if err != nil {
		tb.Fatalf("open memory db: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// ReferenceRoot computes the root of the compressed sparse Merkle tree
// holding kv (key → value) straight from the definition in ledger/state's
// package comment, independently of its implementation: split the sorted
// key hashes bit by bit, a lone key is its leaf, an empty set is 32 zero
// bytes.
func ReferenceRoot(kv map[string][]byte) [32]byte {
	type leaf struct{ kh, vh [32]byte }
	leaves := make([]leaf, 0, len(kv))
	for k, v := range kv {
		leaves = append(leaves, leaf{sha256.Sum256([]byte(k)), sha256.Sum256(v)})
	}
	slices.SortFunc(leaves, func(a, b leaf) int { return bytes.Compare(a.kh[:], b.kh[:]) })
	var rec func(ls []leaf, depth int) [32]byte
	rec = func(ls []leaf, depth int) [32]byte {
		switch len(ls) {
		case 0:
			return [32]byte{}
		case 1:
			return sha256.Sum256(slices.Concat([]byte{0}, ls[0].kh[:], ls[0].vh[:]))
		}
		i := 0
		for i < len(ls) && ls[i].kh[depth/8]&(0x80>>uint(depth%8)) == 0 {
			i++
		}
		l, r := rec(ls[:i], depth+1), rec(ls[i:], depth+1)
		return sha256.Sum256(slices.Concat([]byte{1}, l[:], r[:]))
	}
	return rec(leaves, 0)
}
