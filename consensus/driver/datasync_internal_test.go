package driver

import (
	"os"
	"path/filepath"
	"testing"
)

// datasync makes written data durable and reports a file it cannot sync.
func TestDatasync(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("state"), 0); err != nil {
		t.Fatal(err)
	}
	if err := datasync(f); err != nil {
		t.Fatalf("datasync: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := datasync(f); err == nil {
		t.Fatal("datasync of a closed file succeeded")
	}
}
