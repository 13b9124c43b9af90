package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/genesis"
	"github.com/govnode/govnode/ledger/lightclient"
	"github.com/govnode/govnode/ledger/lightclient/lightclienttest"
	pb "github.com/govnode/govnode/proto/govnode/v1"
	"github.com/govnode/govnode/proto/govnode/v1/govnodev1connect"
)

// `query record --bundle` writes a bundle it verified; `verify` checks it
// offline against the genesis hash or file, exits 0 only when every proof
// holds, and names what failed otherwise, in text and JSON
// (ARCHITECTURE.md §6, "Proof bundles").
func TestRecordBundleVerify(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a node")
	}
	c := lightclienttest.NewChain(t)
	dir := t.TempDir()
	gen := filepath.Join(dir, "genesis.json")
	if err := genesis.Save(gen, c.Genesis, false); err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(c.Node.URL, "http://")
	hash := hex.EncodeToString(c.GenesisHash)
	file := filepath.Join(dir, "lic-1.bundle")

	out := mustRun(t, nil, "query", "record", lightclienttest.Record, "--bundle", file, "--genesis", gen, "--node", addr).out
	if !strings.Contains(out, "wrote "+file) || !strings.Contains(out, "4 version(s), 2 access entries") ||
		!strings.Contains(out, "govnode verify "+file+" --genesis-hash "+hash) {
		t.Errorf("query record --bundle said:\n%s", out)
	}
	st, err := os.Stat(file)
	if err != nil || st.Mode().Perm() != 0o644 {
		t.Fatalf("bundle file: %v, %v", st, err)
	}
	good, _ := os.ReadFile(file)

	// Good: exit 0, the human summary.
	out = mustRun(t, nil, "verify", file, "--genesis-hash", hash).out
	for _, want := range []string{
		"chain bundle-chain, genesis " + hash,
		"record lic-1 (" + "business_license" + "), subject citizen0, holder citizen0, issued by dept0: active, version 4",
		"through 1 validator-set change(s)",
		"  1  created by dept0-official (dept0) at ",
		"  4  amended by dept0-official (dept0) at ",
		"reason: renewal",
		"access log (2 entries):",
		"purpose inspection, legal basis law 1",
		"VERIFIED: every proof in the bundle holds",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("verify output lacks %q:\n%s", want, out)
		}
	}
	t.Logf("verify:\n%s", out)
	if out := mustRun(t, nil, "verify", file, "--genesis", gen).out; !strings.Contains(out, "VERIFIED") {
		t.Errorf("verify --genesis:\n%s", out)
	}
	m := jsonObject(t, mustRun(t, nil, "verify", file, "--genesis-hash", hash, "--output", "json").out)
	if m["ok"] != true || m["chain_id"] != "bundle-chain" || m["genesis_hash"] != hash || len(m["versions"].([]any)) != 4 ||
		len(m["access"].([]any)) != 2 || len(m["failures"].([]any)) != 0 {
		t.Errorf("verify --output json: %v", m)
	}
	if rec := m["record"].(map[string]any); rec["id"] != lightclienttest.Record || rec["version"] != float64(4) || rec["status"] != "active" {
		t.Errorf("record in JSON: %v", rec)
	}

	// Tampered: the content of version 4 changed; exit non-zero naming it.
	b := &pb.ProofBundle{}
	if err := proto.Unmarshal(good, b); err != nil {
		t.Fatal(err)
	}
	v := b.Versions[3]
	i := strings.Index(string(v.Value), lightclienttest.Content)
	if i < 0 {
		t.Fatal("version 4's content not found in its value")
	}
	v.Value[i] ^= 1
	bad := filepath.Join(dir, "tampered.bundle")
	raw, _ := proto.Marshal(b)
	if err := os.WriteFile(bad, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	r := run(t, nil, "verify", bad, "--genesis-hash", hash)
	if r.err == nil || !strings.Contains(r.err.Error(), "bundle NOT verified: versions[3]: tree proof does not reach the state root of anchor") {
		t.Errorf("verify of a tampered bundle: err %v", r.err)
	}
	if !strings.Contains(r.out, "NOT VERIFIED: 1 failure(s)") || !strings.Contains(r.out, "  versions[3]: tree proof does not reach the state root") ||
		strings.Contains(r.out, "VERIFIED: every proof") {
		t.Errorf("verify of a tampered bundle printed:\n%s", r.out)
	}
	r = run(t, nil, "verify", bad, "--genesis-hash", hash, "--output", "json")
	m = jsonObject(t, r.out)
	fs := m["failures"].([]any)
	if r.err == nil || m["ok"] != false || len(fs) != 1 || fs[0].(map[string]any)["part"] != "versions[3]" || len(m["versions"].([]any)) != 3 {
		t.Errorf("verify --output json of a tampered bundle: err %v, %v", r.err, m)
	}

	// Another chain, a bad hash, missing or doubled trust, an oversized
	// file, a file that is no bundle.
	other := strings.Repeat("ab", 32)
	if r := run(t, nil, "verify", file, "--genesis-hash", other); r.err == nil || !strings.Contains(r.out, "genesis: bundle is for another chain") {
		t.Errorf("another chain's hash: %v\n%s", r.err, r.out)
	}
	for _, args := range [][]string{
		{"verify", file},
		{"verify", file, "--genesis-hash", "abc"},
		{"verify", file, "--genesis-hash", hash, "--genesis", gen},
		{"verify", filepath.Join(dir, "missing"), "--genesis-hash", hash},
	} {
		if r := run(t, nil, args...); r.err == nil {
			t.Errorf("%v: no error", args)
		}
	}
	big := filepath.Join(dir, "big.bundle")
	if err := os.WriteFile(big, make([]byte, lightclient.MaxBundleBytes+1), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := run(t, nil, "verify", big, "--genesis-hash", hash); r.err == nil || !strings.Contains(r.err.Error(), "larger than") {
		t.Errorf("oversized bundle: %v", r.err)
	}
	junk := writeFile(t, filepath.Join(dir, "junk.bundle"), "not a bundle at all")
	if r := run(t, nil, "verify", junk, "--genesis-hash", hash); r.err == nil || !strings.Contains(r.out, "bundle: does not decode") {
		t.Errorf("junk: %v\n%s", r.err, r.out)
	}

	// --bundle against another chain's genesis: refused, nothing written.
	otherDoc := proto.Clone(c.Genesis).(*pb.GenesisDoc)
	otherDoc.ChainId = "another-chain"
	otherGen := filepath.Join(dir, "other.json")
	if err := genesis.Save(otherGen, otherDoc, false); err != nil {
		t.Fatal(err)
	}
	notWritten := filepath.Join(dir, "refused.bundle")
	if r := run(t, nil, "query", "record", lightclienttest.Record, "--bundle", notWritten, "--genesis", otherGen, "--node", addr); r.err == nil ||
		!strings.Contains(r.err.Error(), "was not written") || !strings.Contains(r.err.Error(), "bundle is for another chain") {
		t.Errorf("--bundle against another genesis: %v", r.err)
	}
	if _, err := os.Stat(notWritten); !os.IsNotExist(err) {
		t.Errorf("a refused bundle was written: %v", err)
	}
	if r := run(t, nil, "query", "record", "no-such-record", "--bundle", notWritten, "--genesis", gen, "--node", addr); r.err == nil ||
		!strings.Contains(r.err.Error(), "not found") {
		t.Errorf("--bundle of an unknown record: %v", r.err)
	}
	if r := run(t, nil, "query", "record", lightclienttest.Record, "--bundle", notWritten, "--versions", "--node", addr); r.err == nil {
		t.Error("--bundle with --versions: no error")
	}
}

// bundleProxy answers GetRecordBundle with the real node's bundle of
// another record or height than asked: a bundle that verifies, but not
// the one asked for.
type bundleProxy struct {
	govnodev1connect.UnimplementedNodeServiceHandler
	c      *lightclienttest.Chain
	id     string
	height uint64
}

func (p *bundleProxy) GetRecordBundle(ctx context.Context, req *connect.Request[pb.GetRecordBundleRequest]) (*connect.Response[pb.GetRecordBundleResponse], error) {
	return p.c.Node.Client.GetRecordBundle(ctx, connect.NewRequest(&pb.GetRecordBundleRequest{RecordId: p.id, Height: p.height}))
}

// `query record ID --bundle FILE [--height N]` writes only the bundle of
// record ID at N: a node answering with another record's bundle, or
// another height's, all of it verifying, has nothing written (it was
// written, and the output named the record asked for).
func TestRecordBundleNotTheOneAsked(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a node")
	}
	c := lightclienttest.NewChain(t)
	dir := t.TempDir()
	gen := filepath.Join(dir, "genesis.json")
	if err := genesis.Save(gen, c.Genesis, false); err != nil {
		t.Fatal(err)
	}
	good := &pb.ProofBundle{}
	if err := proto.Unmarshal(c.Bundle(t, lightclienttest.Record, 0), good); err != nil {
		t.Fatal(err)
	}
	past := good.GetHeight() - 1
	proxy := &bundleProxy{c: c}
	mux := http.NewServeMux()
	mux.Handle(govnodev1connect.NewNodeServiceHandler(proxy))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(srv.URL, "http://")

	for _, tc := range []struct {
		name      string
		id        string
		height    uint64
		args      []string
		wantError string
	}{
		{"another record", lightclienttest.Fresh, 0, nil, `record_id: the bundle is of record "` + lightclienttest.Fresh + `", not of record "` + lightclienttest.Record + `", the one asked for`},
		{"another height", lightclienttest.Record, good.GetHeight(), []string{"--height", strconv.FormatUint(past, 10)},
			fmt.Sprintf("height: the bundle is of height %d, not of height %d, the one asked for", good.GetHeight(), past)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proxy.id, proxy.height = tc.id, tc.height
			file := filepath.Join(dir, tc.name+".bundle")
			args := append([]string{"query", "record", lightclienttest.Record, "--bundle", file, "--genesis", gen, "--node", addr}, tc.args...)
			r := run(t, nil, args...)
			if r.err == nil || !strings.Contains(r.err.Error(), "was not written") || !strings.Contains(r.err.Error(), tc.wantError) {
				t.Errorf("err %v, want %q\n%s", r.err, tc.wantError, r.out)
			}
			if _, err := os.Stat(file); !os.IsNotExist(err) {
				t.Errorf("a bundle not asked for was written: %v", err)
			}
		})
	}
	// The proxy passing the request on as asked: written.
	proxy.id, proxy.height = lightclienttest.Record, past
	file := filepath.Join(dir, "asked.bundle")
	if r := run(t, nil, "query", "record", lightclienttest.Record, "--bundle", file, "--genesis", gen, "--node", addr, "--height", strconv.FormatUint(past, 10)); r.err != nil {
		t.Fatalf("the bundle asked for: %v\n%s", r.err, r.out)
	}
}
