// Command wasmbuild builds the portal's WebAssembly verifier into
// node/portal/static (`make wasm`), or checks that the committed one is
// what the current sources build (`make wasm-check`). Run it from the
// module root.
//
// It writes verifier.wasm.gz (compressed without name or time, so the
// same wasm gives the same file), wasm_exec.js (the toolchain's loader)
// and verifier.json (verifierbuild: the toolchain, the sources' hash and
// the wasm's).
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/govnode/govnode/node/portal/internal/verifierbuild"
)

// manifest is static/verifier.json (node/portal.Manifest).
type manifest struct {
	Go            string            `json:"go"`
	SourcesSHA256 string            `json:"sources_sha256"`
	WasmSHA256    string            `json:"wasm_sha256"`
	WasmBytes     int               `json:"wasm_bytes"`
	Packages      map[string]string `json:"packages"`
}

func main() {
	out := flag.String("out", filepath.Join("node", "portal", "static"), "directory of the committed verifier")
	check := flag.Bool("check", false, "check the committed verifier against the sources instead of writing it")
	flag.Parse()
	if err := run(*out, *check); err != nil {
		fmt.Fprintln(os.Stderr, "wasmbuild:", err)
		os.Exit(1)
	}
}

func run(out string, check bool) error {
	const root = "."
	goVersion, err := verifierbuild.GoVersion(root)
	if err != nil {
		return err
	}
	sources, pkgs, err := verifierbuild.SourcesHash(root)
	if err != nil {
		return err
	}
	if check {
		return checkCommitted(root, out, goVersion, sources, pkgs)
	}
	wasm, err := verifierbuild.Build(root)
	if err != nil {
		return err
	}
	gz, err := verifierbuild.Gzip(wasm)
	if err != nil {
		return err
	}
	loader, err := verifierbuild.WasmExecJS(root)
	if err != nil {
		return err
	}
	m, err := json.MarshalIndent(manifest{Go: goVersion, SourcesSHA256: sources, WasmSHA256: verifierbuild.SHA256(wasm), WasmBytes: len(wasm), Packages: pkgs}, "", "  ")
	if err != nil {
		return err
	}
	for name, b := range map[string][]byte{"verifier.wasm.gz": gz, "wasm_exec.js": loader, "verifier.json": append(m, '\n')} {
		if err := os.WriteFile(filepath.Join(out, name), b, 0o644); err != nil {
			return err
		}
	}
	fmt.Printf("verifier: %d bytes of wasm, %d gzipped, built by %s from sources %s\n", len(wasm), len(gz), goVersion, sources[:16])
	return nil
}

func checkCommitted(root, out, goVersion, sources string, pkgs map[string]string) error {
	raw, err := os.ReadFile(filepath.Join(out, "verifier.json"))
	if err != nil {
		return err
	}
	var m manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("verifier.json: %w", err)
	}
	gz, err := os.ReadFile(filepath.Join(out, "verifier.wasm.gz"))
	if err != nil {
		return err
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return fmt.Errorf("verifier.wasm.gz: %w", err)
	}
	committed, err := io.ReadAll(zr)
	if err != nil {
		return fmt.Errorf("verifier.wasm.gz: %w", err)
	}
	if got := verifierbuild.SHA256(committed); got != m.WasmSHA256 || len(committed) != m.WasmBytes {
		return fmt.Errorf("verifier.wasm.gz holds wasm %s (%d bytes), verifier.json says %s (%d bytes): run make wasm", got, len(committed), m.WasmSHA256, m.WasmBytes)
	}
	if sources != m.SourcesSHA256 {
		return fmt.Errorf("the verifier's sources changed since the committed verifier was built (sources %s, built from %s; changed: %s): run make wasm and commit node/portal/static",
			sources, m.SourcesSHA256, strings.Join(verifierbuild.Changed(m.Packages, pkgs), ", "))
	}
	if goVersion != m.Go {
		fmt.Printf("verifier: sources match; built by %s, this toolchain is %s, so the bytes are not compared (Go builds are reproducible per toolchain only)\n", m.Go, goVersion)
		return nil
	}
	fresh, err := verifierbuild.Build(root)
	if err != nil {
		return err
	}
	if got := verifierbuild.SHA256(fresh); got != m.WasmSHA256 {
		return fmt.Errorf("a fresh build gives wasm %s, the committed one is %s, with the same sources and toolchain %s: run make wasm", got, m.WasmSHA256, goVersion)
	}
	loader, err := verifierbuild.WasmExecJS(root)
	if err != nil {
		return err
	}
	committedLoader, err := os.ReadFile(filepath.Join(out, "wasm_exec.js"))
	if err != nil {
		return err
	}
	if !bytes.Equal(loader, committedLoader) {
		return fmt.Errorf("wasm_exec.js differs from %s's: run make wasm", goVersion)
	}
	fmt.Printf("verifier: the committed wasm is what %s builds from the current sources (%s)\n", goVersion, m.WasmSHA256[:16])
	return nil
}
