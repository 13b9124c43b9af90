package home

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A safety state kept under its old name (safety.json, which never held
// JSON) is renamed to SafetyFile with its bytes; a data_dir holding both is
// refused rather than guessed; nothing to migrate changes nothing.
func TestMigrateSafetyFile(t *testing.T) {
	dir := t.TempDir()
	if err := MigrateSafetyFile(dir); err != nil {
		t.Fatalf("empty data dir: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("migration of nothing wrote %d files", len(ents))
	}
	old, cur := filepath.Join(dir, legacySafetyFile), filepath.Join(dir, SafetyFile)
	if err := os.WriteFile(old, []byte("state bytes"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := MigrateSafetyFile(dir); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(cur); err != nil || string(b) != "state bytes" {
		t.Fatalf("migrated file: %q, %v", b, err)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Fatalf("old file still there: %v", err)
	}
	if err := os.WriteFile(old, []byte("older"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := MigrateSafetyFile(dir); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("both names present: %v, want a refusal", err)
	}
	if b, _ := os.ReadFile(cur); string(b) != "state bytes" {
		t.Fatal("refused migration changed the current file")
	}
}
