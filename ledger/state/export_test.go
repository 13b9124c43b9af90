package state

import "github.com/syndtr/goleveldb/leveldb"

// OpenContentAddressed opens a tree that writes the content-addressed
// layout of ledgers written before version keys (keys.go), so that tests
// and the layout benchmark make such a ledger with the code that reads it.
func OpenContentAddressed(db *leveldb.DB, prefix []byte) (*Tree, error) {
	t, err := Open(db, prefix)
	if err != nil {
		return nil, err
	}
	t.contentAddressed = true
	return t, nil
}
