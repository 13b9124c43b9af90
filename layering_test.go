package govnode_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The dependency direction of the repository (docs/ARCHITECTURE.md,
// "Packages"): cmd → {node, client} → {consensus, p2p, ledger, genesis} → proto,
// with the shared libraries crypto and keystore below the subsystems. A
// package may import its own subsystem's packages (consensus/driver →
// consensus, ledger/store → ledger/state) and anything on a lower layer;
// siblings on one layer stay independent, except for the edges named in
// layerExceptions, each with its reason.
var layers = []struct {
	prefix string
	layer  int
}{
	{"proto", 0},
	{"crypto", 1},
	{"p2p/wire", 1}, // the framing of p2p streams: bytes only
	{"keystore", 2},
	{"consensus", 3},
	{"p2p", 3},
	{"ledger", 3},
	{"genesis", 3},
	// node/clientcert is the certificate format both sides of an
	// authenticated call share (the node verifies what the client SDK
	// issues); it imports only crypto and proto, so it sits below both.
	{"node/clientcert", 3},
	{"node", 4},
	// client is the Go SDK (docs/ARCHITECTURE.md §6): a consumer of the
	// API like cmd, beside node and never importing it.
	{"client", 4},
	{"cmd", 5},
}

var layerExceptions = map[[2]string]string{
	{"genesis", "consensus"}: "the quorum and fault-tolerance rule has one home, consensus.Quorum; genesis reports it",
	{"genesis", "ledger"}:    "the id, name and chain-parameter rules have one home, the state machine (exec.ValidID, ValidName, ValidateParams); genesis reports them",
	{"ledger", "consensus"}:  "the block executor (ledger/blockexec) is the consensus driver's Executor: it takes consensus.CommittedBlock, ValidationRequest and ProposeSlot, the driver's own types",
}

const module = "github.com/govnode/govnode/"

// component returns the layer entry a package path falls under: the
// longest matching prefix.
func component(pkg string) (string, int, bool) {
	best, layer, ok := "", 0, false
	for _, l := range layers {
		if (pkg == l.prefix || strings.HasPrefix(pkg, l.prefix+"/")) && len(l.prefix) > len(best) {
			best, layer, ok = l.prefix, l.layer, true
		}
	}
	return best, layer, ok
}

// isTestHelper: packages of test helpers (consensustest, nodetest, …),
// which production code never imports.
func isTestHelper(pkg string) bool {
	return strings.HasSuffix(filepath.Base(pkg), "test")
}

func TestLayering(t *testing.T) {
	imports := map[string]map[string]bool{} // production imports per package dir
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != "." && (strings.HasPrefix(n, ".") || n == "testdata" || n == "build") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		pkg := filepath.ToSlash(filepath.Dir(path))
		if imports[pkg] == nil {
			imports[pkg] = map[string]bool{}
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(p, module) {
				imports[pkg][strings.TrimPrefix(p, module)] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(imports) < 15 {
		t.Fatalf("found only %d packages: is the test running from the repository root?", len(imports))
	}
	used := map[[2]string]bool{}
	for pkg, deps := range imports {
		from, fromLayer, ok := component(pkg)
		if !ok {
			t.Errorf("package %s is on no layer: add its folder to layers on purpose", pkg)
			continue
		}
		for dep := range deps {
			if isTestHelper(dep) && !isTestHelper(pkg) {
				t.Errorf("%s imports the test helper package %s in production code", pkg, dep)
				continue
			}
			if isTestHelper(pkg) && !strings.HasPrefix(dep, "cmd") {
				// Test helpers are compiled into tests only; they may wire
				// sibling subsystems together (p2ptest installs
				// consensus.CheckSender), but never reach above node.
				continue
			}
			to, toLayer, ok := component(dep)
			switch {
			case !ok:
				t.Errorf("%s imports %s, which is on no layer", pkg, dep)
			case from == to || fromLayer > toLayer:
			case layerExceptions[[2]string{from, to}] != "":
				used[[2]string{from, to}] = true
			default:
				t.Errorf("%s imports %s: %s (layer %d) may not depend on %s (layer %d)", pkg, dep, from, fromLayer, to, toLayer)
			}
		}
	}
	for e := range layerExceptions {
		if !used[e] {
			t.Errorf("exception %s → %s is no longer used: remove it", e[0], e[1])
		}
	}
}
