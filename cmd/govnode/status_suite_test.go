package main

import (
	"strings"
	"testing"

	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// `govnode status` names the chain's crypto suite: crypto_suite in the
// JSON form (always, once) and in the chain line of the text form. A node
// that reports none predates suites: its chain is ed25519-sha256.
func TestStatusCryptoSuite(t *testing.T) {
	for _, tc := range []struct{ reported, want string }{
		{"sm2-sm3", "sm2-sm3"},
		{"ed25519-sha256", "ed25519-sha256"},
		{"", "ed25519-sha256"},
	} {
		f := newFakeChain("c1")
		f.status = &pb.StatusResponse{ChainId: "c1", Height: 7, FaultModel: "crash", CryptoSuite: tc.reported}
		addr := f.serve(t, 0)

		out := mustRun(t, nil, "status", "--node", addr, "--output", "json").out
		m := jsonObject(t, out)
		if m["crypto_suite"] != tc.want {
			t.Errorf("reported %q: crypto_suite %v, want %q", tc.reported, m["crypto_suite"], tc.want)
		}
		if n := strings.Count(out, `"crypto_suite"`); n != 1 {
			t.Errorf("reported %q: crypto_suite appears %d times:\n%s", tc.reported, n, out)
		}
		txt := mustRun(t, nil, "status", "--node", addr).out
		if want := "chain         c1 (" + tc.want + ", crash faults, genesis "; !strings.Contains(txt, want) {
			t.Errorf("reported %q: status text lacks %q:\n%s", tc.reported, want, txt)
		}
	}
}
