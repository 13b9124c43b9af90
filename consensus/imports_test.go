package consensus_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestCoreImportsArePure: the core package imports no clock, randomness,
// network, disk or database package (ARCHITECTURE.md §4 "Shape of the code"). It is
// an allow-list: a new import must be added here on purpose.
func TestCoreImportsArePure(t *testing.T) {
	allowed := map[string]bool{
		"bytes": true, "crypto/sha256": true, "encoding/binary": true, "errors": true, "fmt": true,
		"math": true, "sort": true, "strconv": true, "sync": true,
		"github.com/govnode/govnode/crypto":           true,
		"github.com/govnode/govnode/proto/govnode/v1": true,
		"google.golang.org/protobuf/proto":            true,
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if !allowed[path] {
				t.Errorf("%s imports %q: the core must stay free of clocks, randomness, I/O and goroutine plumbing", name, path)
			}
		}
	}
	if checked < 5 {
		t.Fatalf("checked only %d files", checked)
	}
}
