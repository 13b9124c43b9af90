package payloads

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/util"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/p2p"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

var _ p2p.PayloadSource = (*Store)(nil)

// newPayload makes a payload of content with a fresh salt.
func newPayload(t testing.TB, content []byte) ([]byte, *pb.Payload) {
	t.Helper()
	salt, err := crypto.NewPayloadSalt()
	if err != nil {
		t.Fatal(err)
	}
	return crypto.Ed25519SHA256.PayloadCommitment(salt, content), &pb.Payload{Salt: salt, Content: content}
}

func openStore(t testing.TB, dir string, o StoreOptions) *Store {
	t.Helper()
	s, err := OpenStore(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// filesContaining lists the files under dir whose bytes contain marker:
// the whole database, journal, tables, manifest and LevelDB's own log.
func filesContaining(t testing.TB, dir string, marker []byte) []string {
	t.Helper()
	var hits []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, marker) {
			hits = append(hits, filepath.Base(path))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hits
}

func TestStorePutGetHas(t *testing.T) {
	s := openStore(t, t.TempDir(), StoreOptions{MaxContentBytes: 100})
	c, p := newPayload(t, []byte("name: Ada; born 1815-12-10"))
	if ok, err := s.Has(c); err != nil || ok {
		t.Fatalf("Has before Put: %v, %v", ok, err)
	}
	if _, err := s.Get(c); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get before Put: %v", err)
	}
	if err := s.Put(c, p); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(c, p); err != nil {
		t.Fatalf("second Put: %v", err)
	}
	got, err := s.Get(c)
	if err != nil || !proto.Equal(got, p) {
		t.Fatalf("Get = %v, %v", got, err)
	}
	if ok, err := s.Has(c); err != nil || !ok {
		t.Fatalf("Has after Put: %v, %v", ok, err)
	}
	other, _ := newPayload(t, []byte("x"))
	if ps := s.Payloads([][]byte{other, c}); len(ps) != 1 || !proto.Equal(ps[0], p) {
		t.Fatalf("Payloads = %v", ps)
	}

	otherC, otherP := newPayload(t, []byte("another content"))
	for _, tt := range []struct {
		name string
		c    []byte
		p    *pb.Payload
	}{
		{"altered content", c, &pb.Payload{Salt: p.GetSalt(), Content: []byte("name: Eve")}},
		{"another payload's commitment", otherC, p},
		{"short salt", c, &pb.Payload{Salt: p.GetSalt()[:31], Content: p.GetContent()}},
		{"short commitment", c[:31], p},
		{"no payload", otherC, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.Put(tt.c, tt.p); !errors.Is(err, ErrBadPayload) {
				t.Fatalf("Put: %v, want ErrBadPayload", err)
			}
		})
	}
	// The size limit itself, with a payload that opens its commitment.
	bigC, bigP := newPayload(t, make([]byte, 101))
	if err := s.Put(bigC, bigP); !errors.Is(err, ErrBadPayload) {
		t.Fatalf("101 bytes under a 100-byte limit: %v", err)
	}
	if ok, _ := s.Has(otherC); ok {
		t.Fatal("a refused payload was stored")
	}
	if err := s.Put(otherC, otherP); err != nil {
		t.Fatal(err)
	}

	if _, err := OpenStore(t.TempDir(), StoreOptions{MaxContentBytes: MaxContentCap + 1}); err == nil {
		t.Fatal("a limit above MaxContentCap accepted")
	}
}

// A directory holding another LevelDB (the ledger, say) is not taken for a
// payload store, and is not written to.
func TestStoreRefusesForeignDatabase(t *testing.T) {
	dir := t.TempDir()
	db, err := leveldb.OpenFile(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Put([]byte("\x00schema"), []byte("govnode-ledger/1"), nil); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := OpenStore(dir, StoreOptions{}); !errors.Is(err, ErrNotPayloadDB) {
		t.Fatalf("ledger opened as a payload store: %v", err)
	}
	// Reopening a payload store works and keeps its payloads.
	dir = t.TempDir()
	s, err := OpenStore(dir, StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c, p := newPayload(t, []byte("kept"))
	if err := s.Put(c, p); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir, StoreOptions{})
	if got, err := s.Get(c); err != nil || !proto.Equal(got, p) {
		t.Fatalf("after reopen: %v, %v", got, err)
	}
}

// ARCHITECTURE.md §5 "Erasing personal data": Delete takes the content off
// the disk. A marker planted in one payload's content is found in the
// database's files before (so the search can fail), and in none after,
// whether the content was still in the journal and memtable, already in
// tables, or both (written, flushed, written again under other payloads);
// the other payloads stay readable.
func TestStoreDeleteLeavesNoTrace(t *testing.T) {
	for _, where := range []string{"journal", "tables", "tables and journal", "after reopen"} {
		t.Run(where, func(t *testing.T) {
			dir := t.TempDir()
			s := openStore(t, dir, StoreOptions{})
			marker := []byte(fmt.Sprintf("PLANTED-MARKER-%s-%x", where, crypto.Ed25519SHA256.Hash([]byte(where))[:6]))
			content := append(bytes.Repeat([]byte("birth certificate of Ada Lovelace; "), 20), marker...)
			c, p := newPayload(t, content)
			// Neighbours on both sides of the key, sharing its tables.
			var others [][]byte
			for i := range 200 {
				oc, op := newPayload(t, bytes.Repeat([]byte{byte('a' + i%26)}, 2000))
				if err := s.Put(oc, op); err != nil {
					t.Fatal(err)
				}
				others = append(others, oc)
				if i == 100 {
					if err := s.Put(c, p); err != nil {
						t.Fatal(err)
					}
				}
			}
			switch where {
			case "tables":
				if err := s.db.CompactRange(util.Range{}); err != nil {
					t.Fatal(err)
				}
			case "tables and journal", "after reopen":
				if err := s.db.CompactRange(util.Range{}); err != nil {
					t.Fatal(err)
				}
				// The same payload again: a second copy, in the journal.
				if err := s.db.Put(payloadKey(c), mustMarshal(t, p), nil); err != nil {
					t.Fatal(err)
				}
			}
			if where == "after reopen" {
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				s = openStore(t, dir, StoreOptions{})
			}
			if hits := filesContaining(t, dir, marker); len(hits) == 0 {
				t.Fatalf("the marker is in no file before Delete: the search cannot fail")
			} else {
				t.Logf("before Delete the marker is in %v", hits)
			}

			if err := s.Delete([][]byte{c}); err != nil {
				t.Fatal(err)
			}
			if hits := filesContaining(t, dir, marker); len(hits) != 0 {
				t.Fatalf("after Delete the marker is still in %v", hits)
			}
			if ok, _ := s.Has(c); ok {
				t.Fatal("deleted payload still held")
			}
			for _, oc := range others {
				if ok, err := s.Has(oc); err != nil || !ok {
					t.Fatalf("a neighbour was lost: %v, %v", ok, err)
				}
			}
			// And it stays gone across a restart (the journal replay).
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = openStore(t, dir, StoreOptions{})
			if ok, _ := s.Has(c); ok {
				t.Fatal("deleted payload back after reopen")
			}
			if hits := filesContaining(t, dir, marker); len(hits) != 0 {
				t.Fatalf("after reopen the marker is in %v", hits)
			}
		})
	}
}

// The control: a LevelDB delete without the compaction leaves the content
// in the files, which is why Delete compacts.
func TestStorePlainDeleteLeavesTrace(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, StoreOptions{})
	marker := []byte("PLANTED-MARKER-control")
	c, p := newPayload(t, append([]byte("content "), marker...))
	if err := s.Put(c, p); err != nil {
		t.Fatal(err)
	}
	if err := s.db.CompactRange(util.Range{}); err != nil {
		t.Fatal(err)
	}
	if err := s.db.Delete(payloadKey(c), syncWrite); err != nil {
		t.Fatal(err)
	}
	if hits := filesContaining(t, dir, marker); len(hits) == 0 {
		t.Fatal("a plain delete took the content off the disk: the erasure test proves nothing")
	}
}

func mustMarshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
