package store

import "encoding/binary"

// SchemaVersion is the layout this package writes: the state tree's
// version-keyed records in a LevelDB of its own (treeDir).
const SchemaVersion = "govnode-ledger/2"

// SchemaVersion1 is the layout before it, read as it is and upgraded by a
// read-write Open: the state tree content-addressed in the main database
// (its records stay there and are read by the tree, ledger/state keys.go).
const SchemaVersion1 = "govnode-ledger/1"

var schemaKey = []byte("\x00schema")

const (
	schemaByte = 0x01

	tagHead   = 'H'
	tagMeta   = 'm'
	tagBlock  = 'b'
	tagCert   = 'c'
	tagHash   = 'h'
	tagResult = 'r'
	tagTx     = 'x'
	tagLatest = 'k'
	tagTree   = 't'
	tagEvents = 'e'
)

func key(tag byte, parts ...[]byte) []byte {
	n := 2
	for _, p := range parts {
		n += len(p)
	}
	k := make([]byte, 2, n)
	k[0], k[1] = schemaByte, tag
	for _, p := range parts {
		k = append(k, p...)
	}
	return k
}

func be64(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

func be32(v uint32) []byte {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return b[:]
}

func headKey() []byte              { return key(tagHead) }
func metaKey(h uint64) []byte      { return key(tagMeta, be64(h)) }
func blockKey(h uint64) []byte     { return key(tagBlock, be64(h)) }
func certKey(h uint64) []byte      { return key(tagCert, be64(h)) }
func eventsKey(h uint64) []byte    { return key(tagEvents, be64(h)) }
func hashKey(hash [32]byte) []byte { return key(tagHash, hash[:]) }
func resultKey(h uint64, i uint32) []byte {
	return key(tagResult, be64(h), be32(i))
}
func txKey(hash [32]byte) []byte { return key(tagTx, hash[:]) }
func latestKey(k []byte) []byte  { return key(tagLatest, k) }
func treePrefix() []byte         { return key(tagTree) }

// meta is the record kept for every committed height.
type meta struct {
	blockHash [32]byte // zero at the genesis
	stateRoot [32]byte
	txCount   uint32
}

const metaLen = 32 + 32 + 4

func (m *meta) encode() []byte {
	b := make([]byte, metaLen)
	copy(b, m.blockHash[:])
	copy(b[32:], m.stateRoot[:])
	binary.BigEndian.PutUint32(b[64:], m.txCount)
	return b
}

func decodeMeta(b []byte) (meta, bool) {
	if len(b) != metaLen {
		return meta{}, false
	}
	var m meta
	copy(m.blockHash[:], b)
	copy(m.stateRoot[:], b[32:])
	m.txCount = binary.BigEndian.Uint32(b[64:])
	return m, true
}
