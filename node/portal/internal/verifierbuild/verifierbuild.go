// Package verifierbuild builds the portal's WebAssembly verifier and says
// from which sources it was built. `make wasm` (cmd wasmbuild) uses it to
// write node/portal/static/verifier.wasm.gz and verifier.json; `make
// wasm-check` and node/portal's tests use it to check that the committed
// verifier is the one the current sources build.
//
// Go builds are reproducible: the same toolchain, sources, module
// versions and flags (-trimpath, no VCS stamp) give the same bytes. Across
// toolchains they are not, so the check has two levels: the hash of the
// sources (the verifier's in-module Go files and the versions of the
// modules it uses) must match on any toolchain; the wasm bytes must match
// when the toolchain is the one the manifest names.
package verifierbuild

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// Pkg is the verifier's main package, relative to the module root.
const Pkg = "./node/portal/wasm"

// module is this repository's module path.
const module = "github.com/govnode/govnode"

// Env is the environment of the verifier's build and of `go list` over it.
func Env() []string {
	return append(os.Environ(), "GOOS=js", "GOARCH=wasm", "CGO_ENABLED=0")
}

// BuildArgs are the `go build` arguments of the verifier, writing out.
func BuildArgs(out string) []string {
	return []string{"build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", out, Pkg}
}

// GoVersion is the go command's toolchain version (go env GOVERSION).
func GoVersion(root string) (string, error) {
	out, err := goCmd(root, nil, "env", "GOVERSION")
	return strings.TrimSpace(out), err
}

// Build compiles the verifier in module root and returns the wasm bytes.
func Build(root string) ([]byte, error) {
	dir, err := os.MkdirTemp("", "govnode-wasm-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "verifier.wasm")
	if _, err := goCmd(root, Env(), BuildArgs(out)...); err != nil {
		return nil, err
	}
	return os.ReadFile(out)
}

// SourcesHash hashes what the verifier is built from, toolchain aside:
// the import path and Go files of each in-module package it depends on
// (for js/wasm), and the path and version of each other module. pkgs has
// the hash of each in-module package's files, by import path, so that a
// check can name what changed.
func SourcesHash(root string) (sum string, pkgs map[string]string, err error) {
	out, err := goCmd(root, Env(), "list", "-deps", "-f",
		`{{if .Module}}{{.ImportPath}}|{{.Module.Path}}|{{.Module.Version}}|{{.Dir}}|{{join .GoFiles ","}}|{{join .EmbedFiles ","}}{{end}}`, Pkg)
	if err != nil {
		return "", nil, err
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	sort.Strings(lines)
	h := sha256.New()
	pkgs = map[string]string{}
	mods := map[string]bool{}
	for _, l := range lines {
		if l == "" {
			continue
		}
		f := strings.Split(l, "|")
		if len(f) != 6 {
			return "", nil, fmt.Errorf("go list: unexpected line %q", l)
		}
		imp, mod, ver, dir, gofiles, embeds := f[0], f[1], f[2], f[3], f[4], f[5]
		if mod != module {
			mods[mod+"@"+ver] = true
			continue
		}
		ph := sha256.New()
		fmt.Fprintf(h, "package %s\n", imp)
		for _, name := range append(strings.Split(gofiles, ","), strings.Split(embeds, ",")...) {
			if name == "" {
				continue
			}
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				return "", nil, err
			}
			sum := sha256.Sum256(b)
			fmt.Fprintf(h, "file %s %x\n", name, sum)
			fmt.Fprintf(ph, "file %s %x\n", name, sum)
		}
		pkgs[strings.TrimPrefix(imp, module+"/")] = hex.EncodeToString(ph.Sum(nil))
	}
	var ms []string
	for m := range mods {
		ms = append(ms, m)
	}
	sort.Strings(ms)
	for _, m := range ms {
		fmt.Fprintf(h, "module %s\n", m)
	}
	return hex.EncodeToString(h.Sum(nil)), pkgs, nil
}

// Changed names the packages of want (a manifest's) whose sources differ
// in got, or that one of them lacks.
func Changed(want, got map[string]string) []string {
	var out []string
	for p, h := range want {
		if got[p] != h {
			out = append(out, p)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// WasmExecJS is the toolchain's wasm_exec.js, the loader that matches its
// wasm.
func WasmExecJS(root string) ([]byte, error) {
	goroot, err := goCmd(root, nil, "env", "GOROOT")
	if err != nil {
		return nil, err
	}
	goroot = strings.TrimSpace(goroot)
	for _, p := range []string{filepath.Join(goroot, "lib", "wasm", "wasm_exec.js"), filepath.Join(goroot, "misc", "wasm", "wasm_exec.js")} {
		if b, err := os.ReadFile(p); err == nil {
			return b, nil
		}
	}
	return nil, fmt.Errorf("wasm_exec.js not found under %s (lib/wasm or misc/wasm)", goroot)
}

// Gzip compresses b the same way every time: no name, no time.
func Gzip(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// SHA256 is the hex SHA-256 of b.
func SHA256(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func goCmd(root string, env []string, args ...string) (string, error) {
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	if env != nil {
		cmd.Env = env
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}
