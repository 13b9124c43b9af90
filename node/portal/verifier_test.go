package portal

import (
	"bytes"
	"compress/gzip"
	"io"
	"os/exec"
	"strings"
	"testing"

	"github.com/govnode/govnode/node/portal/internal/verifierbuild"
)

// The committed verifier is the one its manifest describes, and was built
// from the current sources of ledger/lightclient and everything it uses
// (verifierbuild.SourcesHash): a change to the verifier's code without
// `make wasm` fails here. That the bytes are what the toolchain builds is
// `make wasm-check`'s (CI runs it): it needs a build of about 20 s.
func TestCommittedVerifierIsCurrent(t *testing.T) {
	a, err := loadAssets()
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(a.files[wasmName].body))
	if err != nil {
		t.Fatal(err)
	}
	wasm, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	m := a.manifest
	if got := verifierbuild.SHA256(wasm); got != m.WasmSHA256 || len(wasm) != m.WasmBytes {
		t.Fatalf("embedded verifier is %s (%d bytes), verifier.json says %s (%d bytes): run make wasm", got, len(wasm), m.WasmSHA256, m.WasmBytes)
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatalf("the go command is needed to hash the verifier's sources: %v", err)
	}
	src, pkgs, err := verifierbuild.SourcesHash("../..")
	if err != nil {
		t.Fatal(err)
	}
	if src != m.SourcesSHA256 {
		t.Fatalf("the verifier's sources changed since the committed verifier was built by %s (changed: %s): run make wasm and commit node/portal/static",
			m.Go, strings.Join(verifierbuild.Changed(m.Packages, pkgs), ", "))
	}
	if len(pkgs) < 3 || pkgs["ledger/lightclient"] == "" || pkgs["node/portal/wasm"] == "" {
		t.Errorf("the sources hashed are not the verifier's: %v", pkgs)
	}
}
