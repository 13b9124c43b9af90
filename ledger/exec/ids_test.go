package exec_test

import (
	"strings"
	"testing"

	"github.com/govnode/govnode/ledger/exec"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// TestValidID checks the one id rule: the ids of fixtures, test networks
// and the README stay valid; NUL, escapes, bidi overrides, uppercase (so
// ids differing in case cannot coexist), a leading '-' or '.', '/' and
// overlong ids are refused with the character and its position.
func TestValidID(t *testing.T) {
	cases := []struct {
		id   string
		want string // "" when valid
	}{
		{"dept0-official", ""}, {"land-42", ""}, {"account1", ""}, {"d1.issuer", ""}, {"tender.v1", ""},
		{"land_title", ""}, {"govnode-test", ""}, {"0", ""}, {strings.Repeat("a", exec.MaxIDBytes), ""},
		{"", "empty"},
		{strings.Repeat("a", exec.MaxIDBytes+1), "129 bytes, limit 128"},
		{"alice\x00", `character '\x00' at byte 5 not allowed`},
		{"alice\x1b[31m", `character '\x1b' at byte 5 not allowed`},
		{"alice\u202egpj", `character '\u202e' at byte 5 not allowed`},
		{"\u2066alice", `starts with '\u2066'`},
		{"Alice", "uppercase 'A' at byte 0: ids are lowercase"},
		{"aLICE", "uppercase 'L' at byte 1"},
		{"-rf", "starts with '-'"},
		{".hidden", "starts with '.'"},
		{"a/b", `character '/' at byte 1`},
		{"a b", `character ' ' at byte 1`},
		{"a:b", `character ':' at byte 1`},
		{"a@b", `character '@' at byte 1`},
		{"caf\u00e9", `character 'é' at byte 3`},
		{"a\xff", "byte 1 is not valid UTF-8"},
	}
	for _, tc := range cases {
		err := exec.ValidID(tc.id)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("ValidID(%q) = %v, want valid", tc.id, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("ValidID(%q) = %v, want ...%s...", tc.id, err, tc.want)
		}
	}
	if err := exec.ValidChainID(strings.Repeat("c", exec.MaxChainIDBytes)); err != nil {
		t.Errorf("chain id of %d bytes: %v", exec.MaxChainIDBytes, err)
	}
	if err := exec.ValidChainID(strings.Repeat("c", exec.MaxChainIDBytes+1)); err == nil || !strings.Contains(err.Error(), "a chain id's limit is 64") {
		t.Errorf("chain id of %d bytes: %v", exec.MaxChainIDBytes+1, err)
	}
	if _, err := exec.New(exec.DefaultConfig("Govnode")); err == nil || !strings.Contains(err.Error(), "uppercase") {
		t.Errorf("executor for chain Govnode: %v", err)
	}
}

// TestValidName checks display names and titles: any script, emoji with
// ZWJ, but no control, bidi or invisible format character, valid UTF-8,
// not blank, at most MaxNameBytes.
func TestValidName(t *testing.T) {
	cases := []struct {
		name string
		want string // "" when valid
	}{
		{"Alice Ångström-Øre", ""}, {"Department of Land & Water (Nord)", ""}, {"Ὀδυσσεύς", ""}, {"محمد", ""},
		{"\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645", ""}, // Persian with ZWNJ
		{"👩\u200d🌾 farmer", ""},                                  // emoji ZWJ sequence
		{strings.Repeat("n", exec.MaxNameBytes), ""},
		{"", "empty"}, {"   ", "empty"},
		{strings.Repeat("n", exec.MaxNameBytes+1), "257 bytes, limit 256"},
		{"Alice\x00", "control character U+0000 at byte 5"},
		{"\x1b[2J\x1b[31mAlice", "control character U+001B at byte 0"},
		{"Alice\nBob", "control character U+000A at byte 5"},
		{"Alice\u0085", "control character U+0085 at byte 5"},
		{"Alice \u202efdp.exe", "bidirectional control U+202E at byte 6"},
		{"\u2067Alice", "bidirectional control U+2067 at byte 0"},
		{"Alice\u200f", "bidirectional control U+200F at byte 5"},
		{"Al\u200bice", "invisible format character U+200B at byte 2"},
		{"\ufeffAlice", "invisible format character U+FEFF at byte 0"},
		{"Alice\u2028Bob", "line or paragraph separator U+2028 at byte 5"},
		{"Al\xffice", "byte 2 is not valid UTF-8"},
	}
	for _, tc := range cases {
		err := exec.ValidName(tc.name)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("ValidName(%q) = %v, want valid", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("ValidName(%q) = %v, want ...%s...", tc.name, err, tc.want)
		}
	}
}

// TestIDsAndNamesInTransactions: CheckTx refuses what the rules refuse in
// every place a transaction names an id or a display name, so such a tx
// never enters the mempool; an id differing from an existing one only in
// case cannot be registered.
func TestIDsAndNamesInTransactions(t *testing.T) {
	e := newEnv(t, 2)
	e.ok("d0.registrar", regSubject("alice", citizen))
	named := func(id, display string) *pb.TxBody {
		b := regSubject(id, citizen)
		b.GetRegisterSubject().DisplayName = display
		return b
	}
	titled := func(title string) *pb.TxBody {
		b := propose("p1", 100, addDept("d9"))
		b.GetSubmitProposal().Title = title
		return b
	}
	cases := []struct {
		name string
		body *pb.TxBody
		code pb.ResultCode
		want string
	}{
		{"id differing only in case", regSubject("Alice", citizen), codeInvalid, "uppercase 'A' at byte 0"},
		{"id with NUL", regSubject("bob\x00", citizen), codeInvalid, `character '\x00' at byte 3`},
		{"id with ESC", regSubject("bob\x1b]0;pwned\x07", citizen), codeInvalid, `character '\x1b' at byte 3`},
		{"id with RLO", regSubject("bob\u202e", citizen), codeInvalid, `character '\u202e' at byte 3`},
		{"overlong id", regSubject(strings.Repeat("b", exec.MaxIDBytes+1), citizen), codeInvalid, "129 bytes, limit 128"},
		{"display name with NUL", named("bob", "Bob\x00"), codeInvalid, "control character U+0000"},
		{"display name with ESC", named("bob", "\x1b[31mBob"), codeInvalid, "control character U+001B"},
		{"display name with RLO", named("bob", "Bob \u202e"), codeInvalid, "bidirectional control U+202E"},
		{"overlong display name", named("bob", strings.Repeat("b", exec.MaxNameBytes+1)), codeTooLarge, "limit 256"},
		{"official display name with ESC", func() *pb.TxBody {
			b := regOfficial("o1", "d0", roleAdmin)
			b.GetRegisterOfficial().DisplayName = "\x1b[8m"
			return b
		}(), codeInvalid, "control character U+001B"},
		{"record id uppercase", createRec("LT-1", "land_title", "alice", []byte("x")), codeInvalid, "uppercase 'L'"},
		{"proposal title with RLO", titled("raise \u202elimits"), codeInvalid, "bidirectional control U+202E"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			signer := "d0.registrar"
			switch tc.body.GetAction().(type) {
			case *pb.TxBody_RegisterOfficial, *pb.TxBody_SubmitProposal:
				signer = "d0.admin"
			case *pb.TxBody_CreateRecord:
				signer = "d0.issuer"
			}
			r, err := e.c.Exec.CheckTx(e.c.Store, e.s(signer).Tx(tc.body))
			e.s(signer).Nonce--
			if err != nil {
				t.Fatal(err)
			}
			if r.Code != tc.code || !strings.Contains(r.Reason, tc.want) {
				t.Fatalf("CheckTx %v %q, want %v ...%s...", r.Code, r.Reason, tc.code, tc.want)
			}
		})
	}
	if _, err := exec.Identity(e.c.Store, "Alice"); err == nil {
		t.Fatal("an identity Alice exists beside alice")
	}
}
