package keystore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/govnode/govnode/crypto"
)

// A pending key is the key a node will use after a governed rotation
// (ARCHITECTURE.md §5, governance): `govnode keys pending` writes it
// beside the current key file, the department proposes its public half
// (rotate-validator-key, rotate-node-key), and the node holds both from
// its next start, signing with whichever the validator set in force names.
// It is stored like the current key (same kind, same passphrase), so the
// node opens both with its one passphrase.

// PendingMark is what a pending key file's name adds to the current one's:
// keys/validator.key → keys/validator.pending.key.
const PendingMark = ".pending"

// PendingPath is the pending key file beside the key file path.
func PendingPath(path string) string {
	dir, base := filepath.Split(path)
	if stem, ok := strings.CutSuffix(base, FileExt); ok && stem != "" {
		return filepath.Join(dir, stem+PendingMark+FileExt)
	}
	return filepath.Join(dir, base+PendingMark)
}

// LoadPending loads the pending key beside the key file path, decrypted
// with passphrase, and checks it is of kind. Without a pending file it
// returns (nil, nil, nil).
func LoadPending(path, passphrase string, kind Kind) (crypto.PrivateKey, *Info, error) {
	p := PendingPath(path)
	if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	} else if err != nil {
		return nil, nil, fmt.Errorf("pending key: %w", err)
	}
	key, info, err := LoadWithInfo(p, passphrase)
	if err != nil {
		return nil, nil, fmt.Errorf("pending key: %w", err)
	}
	if info.Kind != kind {
		return nil, nil, fmt.Errorf("pending key %s is a key of kind %s, want %s", p, info.Kind, kind)
	}
	return key, info, nil
}
