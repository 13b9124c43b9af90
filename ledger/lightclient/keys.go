package lightclient

import "fmt"

// State keys a bundle proves. They are the state machine's (ledger/exec
// keys.go, whose table is the reference), written here because the light
// client cannot import the state machine (it brings the tree's storage);
// TestKeysMatchStateMachine checks they stay the same.

func num(n uint64) string { return fmt.Sprintf("%020d", n) }

// RecordKey is the key of a record's current view (rec/<id>).
func RecordKey(id string) []byte { return []byte("rec/" + id) }

// RecordVersionKey is the key of one version of a record
// (recv/<id>/<version>); versions are written once and never changed.
func RecordVersionKey(id string, version uint64) []byte {
	return []byte("recv/" + id + "/" + num(version))
}

// AccessEntryKey is the key of one access-log entry of a record
// (acc/<id>/<seq>, seq from 1).
func AccessEntryKey(id string, seq uint64) []byte { return []byte("acc/" + id + "/" + num(seq)) }

// AccessCountKey is the key of a record's access-log counter (accn/<id>):
// 8 bytes big-endian, the last seq written; absent means no entry.
func AccessCountKey(id string) []byte { return []byte("accn/" + id) }

// ValidatorSetKey is the key of the validator set in force from height
// eff (valset/<eff>).
func ValidatorSetKey(eff uint64) []byte { return []byte("valset/" + num(eff)) }
