package portal

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// The page and its assets, embedded: the portal needs nothing from
// outside the binary. verifier.wasm.gz is ledger/lightclient compiled to
// WebAssembly by `make wasm` (node/portal/internal/wasmbuild), with
// verifier.json saying from which sources; wasm_exec.js is the Go
// toolchain's loader of the same version.
//
//go:embed static
var staticFS embed.FS

// The verifier's files in static/.
const (
	wasmGzName   = "verifier.wasm.gz"
	wasmName     = "verifier.wasm"
	manifestName = "verifier.json"
)

// Manifest is static/verifier.json: how the committed verifier was built
// (node/portal/internal/wasmbuild writes it, its check and the tests read
// it).
type Manifest struct {
	// Go is the toolchain that built it (go env GOVERSION).
	Go string `json:"go"`
	// SourcesSHA256 hashes the Go sources of the verifier's in-module
	// packages and the versions of the modules it uses
	// (verifierbuild.SourcesHash).
	SourcesSHA256 string `json:"sources_sha256"`
	// WasmSHA256 and WasmBytes are the uncompressed verifier's.
	WasmSHA256 string `json:"wasm_sha256"`
	WasmBytes  int    `json:"wasm_bytes"`
	// Packages are the hashes of each in-module package's sources, by
	// path in the module (ledger/lightclient, ...), which say what changed.
	Packages map[string]string `json:"packages"`
}

// asset is one file as served.
type asset struct {
	body  []byte
	ctype string
	etag  string
	gzip  bool // body is gzip-compressed (Content-Encoding)
}

type assets struct {
	files    map[string]*asset
	manifest Manifest

	rawOnce sync.Once
	raw     *asset // the verifier uncompressed, for clients without gzip
	rawErr  error
}

var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".wasm": "application/wasm",
}

// loadAssets reads the embedded files.
func loadAssets() (*assets, error) {
	a := &assets{files: map[string]*asset{}}
	err := fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		name := strings.TrimPrefix(p, "static/")
		body, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		switch name {
		case manifestName:
			if err := json.Unmarshal(body, &a.manifest); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			return nil
		case wasmGzName:
			a.files[wasmName] = &asset{body: body, ctype: contentTypes[".wasm"], etag: etag(body), gzip: true}
			return nil
		}
		ct, ok := contentTypes[path.Ext(name)]
		if !ok {
			return fmt.Errorf("portal: static/%s: no content type for its extension", name)
		}
		a.files[name] = &asset{body: body, ctype: ct, etag: etag(body)}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("portal: embedded assets: %w", err)
	}
	for _, n := range []string{"index.html", "app.js", "style.css", "wasm_exec.js", wasmName} {
		if a.files[n] == nil {
			return nil, fmt.Errorf("portal: embedded asset %s missing (make wasm builds the verifier)", n)
		}
	}
	return a, nil
}

func etag(b []byte) string {
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:12]) + `"`
}

// names are the served file names, sorted.
func (a *assets) names() []string {
	var ns []string
	for n := range a.files {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return ns
}

// uncompressed is the verifier for a client that does not take gzip.
func (a *assets) uncompressed() (*asset, error) {
	a.rawOnce.Do(func() {
		gz := a.files[wasmName]
		zr, err := gzip.NewReader(bytes.NewReader(gz.body))
		if err != nil {
			a.rawErr = err
			return
		}
		body, err := io.ReadAll(zr)
		if err != nil {
			a.rawErr = err
			return
		}
		a.raw = &asset{body: body, ctype: gz.ctype, etag: etag(body)}
	})
	return a.raw, a.rawErr
}

// acceptsGzip: the request's Accept-Encoding names gzip without q=0.
func acceptsGzip(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept-Encoding") {
		for _, part := range strings.Split(v, ",") {
			name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			if strings.EqualFold(strings.TrimSpace(name), "gzip") || strings.TrimSpace(name) == "*" {
				if q, ok := strings.CutPrefix(strings.ReplaceAll(params, " ", ""), "q="); ok {
					if f, err := strconv.ParseFloat(q, 64); err == nil && f == 0 {
						continue
					}
				}
				return true
			}
		}
	}
	return false
}

// asset answers the embedded file name. Assets are revalidated on each
// load (no-cache with an ETag), so a node upgraded to a new verifier
// serves it at once.
func (s *Server) asset(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f := s.assets.files[name]
		h := w.Header()
		if f.gzip {
			h.Add("Vary", "Accept-Encoding")
			if !acceptsGzip(r) {
				raw, err := s.assets.uncompressed()
				if err != nil {
					httpError(w, http.StatusInternalServerError, "verifier: "+err.Error())
					return
				}
				f = raw
			} else {
				h.Set("Content-Encoding", "gzip")
			}
		}
		h.Set("Content-Type", f.ctype)
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", f.etag)
		if inm := r.Header.Get("If-None-Match"); inm != "" && strings.Contains(inm, f.etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		h.Set("Content-Length", strconv.Itoa(len(f.body)))
		_, _ = w.Write(f.body)
	}
}
