package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// hostile is text a chain could carry in a memo, a purpose or a name: a
// screen clear and colour escape, an OSC title change ending in BEL, a
// right-to-left override, an 8-bit CSI, NUL, a line break forging a line
// of output. (Protobuf strings are valid UTF-8, so a node cannot send a
// bad byte; TestTermText and TestTermJSON cover those.)
const hostile = "\x1b[2J\x1b[31mred\x1b]0;owned\x07 \u202egpj.exe\u009b1m\x00\nheight 99 forged"

// terminalSafe reports whether s has nothing a terminal would act on:
// valid UTF-8 of printable runes, with only the line breaks and tabs given.
func terminalSafe(s string, allowed string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !strconv.IsPrint(r) && !strings.ContainsRune(allowed, r) {
			return false
		}
	}
	return true
}

func TestTermText(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", ""},
		{"dept0-official", "dept0-official"},
		{`Alice Ångström "the clerk" 🚀 {{7*7}} \x1b`, `Alice Ångström "the clerk" 🚀 {{7*7}} \x1b`},
		{"\x1b[31mred", `"\x1b[31mred"`},
		{"bad\u202eexe.pdf", `"bad\u202eexe.pdf"`},
		{"line\nforged", `"line\nforged"`},
		{"nul\x00", `"nul\x00"`},
		{"csi\u009b1m", `"csi\u009b1m"`},
		{"zero\u200bwidth", `"zero\u200bwidth"`},
		{"bad\xffbyte", `"bad\xffbyte"`},
	}
	for _, tc := range cases {
		got := termText(tc.in)
		if got != tc.want {
			t.Errorf("termText(%q) = %s, want %s", tc.in, got, tc.want)
		}
		if !terminalSafe(got, "") {
			t.Errorf("termText(%q) = %q is not terminal-safe", tc.in, got)
		}
		if got != tc.in {
			if back, err := strconv.Unquote(got); err != nil || back != tc.in {
				t.Errorf("termText(%q) = %s does not unquote to the input: %q %v", tc.in, got, back, err)
			}
		}
	}
	if got := termLines("first line\nsecond \x1b[31m"); got != "first line\n\"second \\x1b[31m\"" {
		t.Errorf("termLines: %q", got)
	}
}

func TestTermJSON(t *testing.T) {
	clean := []byte("{\n  \"memo\": \"Ångström 🚀 \\u001b\"\n}\n")
	if got := termJSON(clean); !bytes.Equal(got, clean) {
		t.Errorf("clean JSON changed: %s", got)
	}
	for _, s := range []string{hostile + "\xff", "\u202e", "del\x7f", "astral \U000e0041 tag", "\u2028\u2029"} {
		raw, err := json.Marshal(map[string]string{"memo": s})
		if err != nil {
			t.Fatal(err)
		}
		got := termJSON(raw)
		if !terminalSafe(string(got), "") {
			t.Errorf("termJSON of %q is not terminal-safe: %q", s, got)
		}
		var back map[string]string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("termJSON of %q is not JSON: %v: %s", s, err, got)
		}
		if want := strings.ToValidUTF8(s, "\ufffd"); back["memo"] != want {
			t.Errorf("termJSON changed the value: %q, want %q", back["memo"], want)
		}
	}
}

// TestChainTextEscapedOnOutput: strings a node sends (display names,
// attributes, chain ids, department ids, event fields, refusal reasons,
// error messages) are printed terminal-safe in text and in JSON output.
func TestChainTextEscapedOnOutput(t *testing.T) {
	f := newFakeChain("c1")
	f.identity = &pb.QueryIdentityResponse{Identity: &pb.Identity{Id: "x", DisplayName: hostile,
		Attributes: []*pb.Attribute{{Name: "note\u202e", Value: hostile}}}}
	f.status = &pb.StatusResponse{ChainId: "c1" + hostile, Version: hostile, NodeId: hostile, ValidatorIndex: -1,
		Validators: &pb.ValidatorSet{Validators: []*pb.Department{{Id: hostile, PeerId: hostile}}},
		Peers:      []*pb.PeerInfo{{DepartmentId: hostile, PeerId: hostile}}}
	f.events = []*pb.StreamEventsResponse{{Height: 1, Events: []*pb.Event{{Height: 1,
		Kind: &pb.Event_Record{Record: &pb.RecordEvent{RecordId: hostile, Action: hostile}}}}}}
	addr := f.serve(t, 0)

	for _, args := range [][]string{
		{"query", "identity", "x"}, {"status"}, {"events", "--from", "1", "--to", "1"},
	} {
		args = append(args, "--node", addr)
		txt := mustRun(t, nil, args...).out
		if !terminalSafe(txt, "\n") || !strings.Contains(txt, `\x1b[2J\x1b[31mred\x1b]0;owned\a \u202egpj.exe\u009b1m\x00\nheight 99 forged"`) {
			t.Errorf("govnode %s, text:\n%s", strings.Join(args, " "), txt)
		}
		if strings.Contains(txt, "\nheight 99 forged") {
			t.Errorf("govnode %s: a chain string forged a line:\n%s", strings.Join(args, " "), txt)
		}
		js := mustRun(t, nil, append(args, "--output", "json")...).out
		if !terminalSafe(js, "\n") {
			t.Errorf("govnode %s, JSON not terminal-safe: %q", strings.Join(args, " "), js)
		}
		if !strings.Contains(js, `\u202egpj.exe\u009b1m\u0000\nheight 99 forged`) {
			t.Errorf("govnode %s, JSON lost the value:\n%s", strings.Join(args, " "), js)
		}
	}

	// A refusal's reason and a failed result's reason.
	dir, sum, tf := testnetFixture(t, 1)
	taddr := tf.serve(t, 0)
	off := sum.Nodes[0].Official.ID
	tf.mu.Lock()
	tf.nextResult = &pb.TxResult{Code: pb.ResultCode_RESULT_CODE_UNAUTHORIZED, Reason: hostile}
	tf.mu.Unlock()
	r := run(t, nil, "tx", "record", "revoke", "--id", "r", "--testnet", dir, "--signer", off, "--node", taddr, "--wait")
	if r.err == nil || !terminalSafe(r.out, "\n") || !strings.Contains(r.out, `\u202egpj.exe`) {
		t.Errorf("failed tx outcome: %v\n%s", r.err, r.out)
	}
	var buf bytes.Buffer
	printError(&buf, r.err)
	if !terminalSafe(buf.String(), "\n") || !strings.HasPrefix(buf.String(), "Error: ") || strings.Contains(buf.String(), "\nheight 99 forged") {
		t.Errorf("printError: %q", buf.String())
	}
	buf.Reset()
	// A node's refusal message stays one escaped line.
	tf.submitErr = connect.NewError(connect.CodeInvalidArgument, errors.New(hostile))
	r = run(t, nil, "tx", "record", "revoke", "--id", "r", "--testnet", dir, "--signer", off, "--node", taddr)
	if r.err == nil || !terminalSafe(r.err.Error(), "") || !strings.Contains(r.err.Error(), `invalid_argument: "\x1b[2J`) {
		t.Errorf("refusal: %q", r.err)
	}
	// A warning's arguments, which may carry a node's error.
	cmd := &cobra.Command{}
	cmd.SetErr(&buf)
	warn(cmd, "event stream broke (%v); resuming at height %d", errors.New(hostile), 7)
	if !terminalSafe(buf.String(), "\n") || strings.Count(buf.String(), "\n") != 1 || !strings.HasSuffix(buf.String(), "; resuming at height 7\n") {
		t.Errorf("warn: %q", buf.String())
	}
	buf.Reset()
	printError(&buf, errors.New("invalid genesis: 2 problem(s):\n  chain_id: empty\n  params: missing"))
	if buf.String() != "Error: invalid genesis: 2 problem(s):\n  chain_id: empty\n  params: missing\n" {
		t.Errorf("printError changed a clean multi-line error: %q", buf.String())
	}
}
