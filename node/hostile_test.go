package node_test

// ARCHITECTURE.md §7: every bad input gets a clear error and changes nothing.
// Malformed and hostile inputs at the API of a running node: transaction
// bytes over the binary Connect client, typing attacks in the JSON form,
// hostile ids in queries, raw malformed HTTP, and a flood. Refused inputs
// must leave the height and state root as they were; acceptable ones must
// be handled correctly (markup content round-trips unchanged); the node
// must answer Status at the end.

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/node/nodetest"
	pb "github.com/govnode/govnode/proto/govnode/v1"
	"github.com/govnode/govnode/proto/govnode/v1/govnodev1connect"
)

// hostileChain is a node with one record (lic-1 of citizen0, accessed once)
// and one committed tx to replay.
func hostileChain(t *testing.T) (*nodetest.Chain, *nodetest.Node, []byte) {
	t.Helper()
	c := nodetest.NewChain(t, nodetest.Options{})
	n := c.Start(t)
	committed := c.Official.Tx(nodetest.CreateRecord("lic-1", nodetest.BusinessLicense, "citizen0", []byte("licence")))
	n.CommitOK(t, committed)
	n.CommitOK(t, c.Official.Tx(nodetest.AccessRecord("lic-1", "inspection", "law 1")))
	n.WaitIdle(t)
	return c, n, committed
}

// unchanged fails unless the node's height and state root are before's.
func unchanged(t *testing.T, n *nodetest.Node, before *pb.StatusResponse) {
	t.Helper()
	st := n.Status(t)
	if st.GetHeight() != before.GetHeight() || !bytes.Equal(st.GetStateRoot(), before.GetStateRoot()) || st.GetMempoolTxs() != before.GetMempoolTxs() {
		t.Fatalf("refused input changed the node: height %d->%d, root %x->%x, mempool %d->%d", before.GetHeight(), st.GetHeight(),
			before.GetStateRoot(), st.GetStateRoot(), before.GetMempoolTxs(), st.GetMempoolTxs())
	}
}

// bodyBytes is the deterministic encoding of body.
func bodyBytes(t *testing.T, body *pb.TxBody) []byte {
	t.Helper()
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// withField appends a length-delimited field num holding raw to msg: the
// last value of a scalar field wins when decoding, so this overrides it
// with bytes proto.Marshal would refuse to write (invalid UTF-8).
func withField(msg []byte, num protowire.Number, raw []byte) []byte {
	msg = protowire.AppendTag(append([]byte(nil), msg...), num, protowire.BytesType)
	return protowire.AppendBytes(msg, raw)
}

func TestHostileTxs(t *testing.T) {
	c, n, committed := hostileChain(t)
	off, cit := c.Official, c.Citizens[1]
	chain := c.ChainID
	stranger, err := crypto.GenerateKey(pb.KeyScheme_KEY_SCHEME_ED25519, bytes.NewReader(bytes.Repeat([]byte{7}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	// Bodies signed by the official with its next nonce, so that only the
	// hostile part can be the reason for a refusal.
	offBody := func(a *pb.TxBody) *pb.TxBody {
		a.ChainId, a.Signer, a.Nonce = chain, off.ID, off.NextNonce()
		return a
	}
	create := func(id, typ, subject string, content []byte) []byte {
		return nodetest.Sign(off.Key, offBody(nodetest.CreateRecord(id, typ, subject, content)))
	}
	valid := create("ok-id", nodetest.BusinessLicense, "citizen0", []byte("x"))
	stx := &pb.SignedTx{}
	if err := proto.Unmarshal(valid, stx); err != nil {
		t.Fatal(err)
	}
	envelope := func(body, sig []byte) []byte {
		b, _ := proto.Marshal(&pb.SignedTx{Body: body, Signature: sig})
		return b
	}
	recordBytes := func(rec []byte) []byte {
		// A body whose CreateRecord is the raw rec.
		head := bodyBytes(t, &pb.TxBody{ChainId: chain, Signer: off.ID, Nonce: off.NextNonce()})
		return nodetest.SignBytes(off.Key, chain, withField(head, 20, rec))
	}
	goodRec, _ := proto.Marshal(&pb.CreateRecord{RecordId: "utf", RecordType: nodetest.BusinessLicense, SubjectId: "citizen0", Content: []byte("x")})
	attrs := make([]*pb.Attribute, 10000)
	for i := range attrs {
		attrs[i] = &pb.Attribute{Name: "a"}
	}
	nestedGroups := func(depth int) []byte {
		var b []byte
		for range depth {
			b = protowire.AppendTag(b, 99, protowire.StartGroupType)
		}
		for range depth {
			b = protowire.AppendTag(b, 99, protowire.EndGroupType)
		}
		return b
	}
	otherChainBody := bodyBytes(t, &pb.TxBody{ChainId: "other-chain", Signer: off.ID, Nonce: off.NextNonce(), Action: nodetest.CreateRecord("oc", nodetest.BusinessLicense, "citizen0", []byte("x")).Action})

	ia, pd, ua, fp, re := connect.CodeInvalidArgument, connect.CodePermissionDenied, connect.CodeUnauthenticated, connect.CodeFailedPrecondition, connect.CodeResourceExhausted
	cases := []struct {
		name string
		tx   []byte
		want []connect.Code // any of these
	}{
		{"empty tx", nil, []connect.Code{ia}},
		{"one zero byte", []byte{0}, []connect.Code{ia}},
		{"garbage bytes", bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 16), []connect.Code{ia}},
		{"ascii text", []byte("hello, node"), []connect.Code{ia}},
		{"truncated signed tx", valid[:len(valid)/2], []connect.Code{ia}},
		{"truncated by one byte", valid[:len(valid)-1], []connect.Code{ia}},
		{"huge varint", append([]byte{0x08}, bytes.Repeat([]byte{0xff}, 11)...), []connect.Code{ia}},
		{"field number 0", []byte{0x02, 0x01, 0x00}, []connect.Code{ia}},
		{"body as varint", protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 5), []connect.Code{ia}},
		{"length beyond end", []byte{0x0a, 0x7f, 0x01}, []connect.Code{ia}},
		{"deeply nested groups", nestedGroups(100000), []connect.Code{ia, re}}, // 400 kB: over the size limit first
		{"unsigned (no signature)", envelope(stx.GetBody(), nil), []connect.Code{ia}},
		{"empty body", envelope(nil, stx.GetSignature()), []connect.Code{ia}},
		{"garbage body, signed", nodetest.SignBytes(off.Key, chain, []byte{0xff, 0xff, 0xff}), []connect.Code{ia}},
		{"no action (empty oneof)", nodetest.Sign(off.Key, offBody(&pb.TxBody{})), []connect.Code{ia}},
		{"signature flipped", envelope(stx.GetBody(), append([]byte{stx.GetSignature()[0] ^ 0x80}, stx.GetSignature()[1:]...)), []connect.Code{ua}},
		{"signature too short", envelope(stx.GetBody(), stx.GetSignature()[:10]), []connect.Code{ua}},
		{"signature by a non-member key", nodetest.Sign(stranger, offBody(nodetest.CreateRecord("nm", nodetest.BusinessLicense, "citizen0", []byte("x")))), []connect.Code{ua}},
		{"unknown signer", nodetest.Sign(stranger, &pb.TxBody{ChainId: chain, Signer: "ghost", Nonce: 1, Action: nodetest.GrantTypeAccess("g", nodetest.Dept, nodetest.BusinessLicense, math.MaxInt32).Action}), []connect.Code{ua}},
		{"signer id with slash", nodetest.Sign(stranger, &pb.TxBody{ChainId: chain, Signer: "id/dept0-official", Nonce: 1, Action: nodetest.GrantTypeAccess("g", nodetest.Dept, nodetest.BusinessLicense, math.MaxInt32).Action}), []connect.Code{ua}},
		{"empty signer", nodetest.Sign(off.Key, &pb.TxBody{ChainId: chain, Nonce: 1, Action: nodetest.GrantTypeAccess("g", nodetest.Dept, nodetest.BusinessLicense, math.MaxInt32).Action}), []connect.Code{ua}},
		{"body for another chain", nodetest.SignBytes(off.Key, "other-chain", otherChainBody), []connect.Code{ia}},
		{"signed for another chain id", nodetest.SignBytes(off.Key, "other-chain", stx.GetBody()), []connect.Code{ua}},
		{"replayed committed tx", committed, []connect.Code{fp}},
		{"nonce 0", nodetest.Sign(off.Key, &pb.TxBody{ChainId: chain, Signer: off.ID, Nonce: 0, Action: nodetest.CreateRecord("n0", nodetest.BusinessLicense, "citizen0", []byte("x")).Action}), []connect.Code{fp}},
		{"nonce far ahead", nodetest.Sign(off.Key, &pb.TxBody{ChainId: chain, Signer: off.ID, Nonce: off.NextNonce() + 100000, Action: nodetest.CreateRecord("nf", nodetest.BusinessLicense, "citizen0", []byte("x")).Action}), []connect.Code{fp}},
		{"nonce max uint64", nodetest.Sign(off.Key, &pb.TxBody{ChainId: chain, Signer: off.ID, Nonce: math.MaxUint64, Action: nodetest.CreateRecord("nm", nodetest.BusinessLicense, "citizen0", []byte("x")).Action}), []connect.Code{fp}},
		{"invalid UTF-8 in memo", nodetest.SignBytes(off.Key, chain, withField(stx.GetBody(), 4, []byte{0xff, 0xfe, 'x'})), []connect.Code{ia}},
		{"invalid UTF-8 in signer", nodetest.SignBytes(off.Key, chain, withField(stx.GetBody(), 2, []byte{'d', 0xc0})), []connect.Code{ia}},
		{"invalid UTF-8 in record id", recordBytes(withField(goodRec, 1, []byte{0xed, 0xa0, 0x80})), []connect.Code{ia}},
		{"record id with slash", create("a/b", nodetest.BusinessLicense, "citizen0", []byte("x")), []connect.Code{ia}},
		{"record id a..b/c", create("a../c", nodetest.BusinessLicense, "citizen0", []byte("x")), []connect.Code{ia}},
		{"record id path traversal", create("../../etc/passwd", nodetest.BusinessLicense, "citizen0", []byte("x")), []connect.Code{ia}},
		{"record id with NUL", create("a\x00b", nodetest.BusinessLicense, "citizen0", []byte("x")), []connect.Code{ia}},
		{"record id with script", create("<script>alert(1)</script>", nodetest.BusinessLicense, "citizen0", []byte("x")), []connect.Code{ia}},
		{"record id with SQL", create("x'; DROP TABLE records;--", nodetest.BusinessLicense, "citizen0", []byte("x")), []connect.Code{ia}},
		{"record id with space", create("a b", nodetest.BusinessLicense, "citizen0", []byte("x")), []connect.Code{ia}},
		{"record id unicode", create("rëcord", nodetest.BusinessLicense, "citizen0", []byte("x")), []connect.Code{ia}},
		{"record id too long", create(strings.Repeat("a", 129), nodetest.BusinessLicense, "citizen0", []byte("x")), []connect.Code{ia}},
		{"empty record id", create("", nodetest.BusinessLicense, "citizen0", []byte("x")), []connect.Code{ia}},
		{"subject id with slash", create("s1", nodetest.BusinessLicense, "citizen0/x", []byte("x")), []connect.Code{ia}},
		{"record type with NUL", create("t1", "business_license\x00", "citizen0", []byte("x")), []connect.Code{ia}},
		{"memo too large", nodetest.Sign(off.Key, func() *pb.TxBody {
			b := offBody(nodetest.CreateRecord("m1", nodetest.BusinessLicense, "citizen0", []byte("x")))
			b.Memo = strings.Repeat("m", 257)
			return b
		}()), []connect.Code{re}},
		{"10k metadata entries", nodetest.Sign(off.Key, func() *pb.TxBody {
			b := offBody(nodetest.CreateRecord("m2", nodetest.BusinessLicense, "citizen0", []byte("x")))
			b.GetCreateRecord().Metadata = attrs
			return b
		}()), []connect.Code{re}},
		// A tx over the mempool's and the chain's max_tx_bytes. Today the
		// mempool's ErrTxTooLarge maps to InvalidArgument while the state
		// machine's TOO_LARGE maps to ResourceExhausted; either is clear.
		{"tx over max_tx_bytes", create("big", nodetest.BusinessLicense, "citizen0", bytes.Repeat([]byte("b"), 100<<10)), []connect.Code{ia, re}},
		{"citizen creates a record", nodetest.Sign(cit.Key, &pb.TxBody{ChainId: chain, Signer: cit.ID, Nonce: cit.NextNonce(), Action: nodetest.CreateRecord("cr", nodetest.BusinessLicense, "citizen1", []byte("x")).Action}), []connect.Code{pd}},
		{"citizen registers an official", nodetest.Sign(cit.Key, &pb.TxBody{ChainId: chain, Signer: cit.ID, Nonce: cit.NextNonce(), Action: &pb.TxBody_RegisterOfficial{RegisterOfficial: &pb.RegisterOfficial{
			IdentityId: "evil", DepartmentId: nodetest.Dept, DisplayName: "Evil", Roles: []pb.Role{pb.Role_ROLE_ADMIN}, PublicKey: stranger.Public(),
		}}}), []connect.Code{pd}},
		{"official sets roles (admin only)", nodetest.Sign(off.Key, offBody(&pb.TxBody{Action: &pb.TxBody_SetRoles{SetRoles: &pb.SetRoles{
			IdentityId: nodetest.OfficeID, Roles: []pb.Role{pb.Role_ROLE_ADMIN},
		}}})), []connect.Code{pd}},
		{"official submits a proposal (admin only)", nodetest.Sign(off.Key, offBody(&pb.TxBody{Action: &pb.TxBody_SubmitProposal{SubmitProposal: &pb.SubmitProposal{
			ProposalId: "p", Title: "t", VotingEndHeight: 1000, Change: &pb.SubmitProposal_RemoveDepartment{RemoveDepartment: &pb.RemoveDepartment{DepartmentId: nodetest.Dept}},
		}}})), []connect.Code{pd}},
	}
	if len(cases) < 45 {
		t.Fatalf("only %d cases", len(cases))
	}
	before := n.Status(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := n.Client.SubmitTx(ctxOf(t), req(&pb.SubmitTxRequest{Tx: tc.tx, WaitForCommit: true, WaitTimeoutMs: 2000}))
			code := connect.CodeOf(err)
			if err == nil || !containsCode(tc.want, code) {
				t.Fatalf("want one of %v, got %v: %v", tc.want, code, err)
			}
			nodetest.WantCode(t, err, code)
			unchanged(t, n, before)
		})
	}

	// Over connect's read limit (4 MiB): refused before decoding.
	t.Run("request over the read limit", func(t *testing.T) {
		_, err := n.Client.SubmitTx(ctxOf(t), req(&pb.SubmitTxRequest{Tx: make([]byte, 5<<20)}))
		nodetest.WantCode(t, err, re)
		unchanged(t, n, before)
	})
}

func containsCode(cs []connect.Code, c connect.Code) bool {
	for _, x := range cs {
		if x == c {
			return true
		}
	}
	return false
}

// TestHostileAcceptable: inputs that look hostile but are acceptable are
// handled correctly: markup, SQL and control characters in content, memo
// and purpose round-trip byte for byte; an unknown subject or an existing
// record id passes the mempool (which does not read those objects) and
// commits as a failed result that writes nothing. (Content its record type
// refuses never gets that far: TestSubmitRefusesContentItsTypeRefuses.)
func TestHostileAcceptable(t *testing.T) {
	c, n, _ := hostileChain(t)
	off := c.Official
	nasty := "<script>alert('x')</script><img src=x onerror=alert(1)> '; DROP TABLE records; -- \" \\ \x00\x01\x7f ünïcödé 🚀 {{7*7}} ${jndi:ldap://x}"

	body := nodetest.CreateRecord("markup", nodetest.BusinessLicense, "citizen0", []byte(nasty))
	body.Memo = nasty
	body.GetCreateRecord().ContentType = "text/html; charset=<evil>"
	body.GetCreateRecord().Metadata = []*pb.Attribute{{Name: "<b>", Value: nasty}}
	tx := off.Tx(body)
	r := n.CommitOK(t, tx)
	rec, err := n.Client.QueryRecord(ctxOf(t), req(&pb.QueryRecordRequest{RecordId: "markup", WithVersions: true}))
	if err != nil {
		t.Fatal(err)
	}
	v := rec.Msg.GetVersions()[0]
	if string(v.GetContent()) != nasty || v.GetContentType() != "text/html; charset=<evil>" || v.GetMetadata()[0].GetValue() != nasty || v.GetMetadata()[0].GetName() != "<b>" {
		t.Fatalf("markup did not round-trip: %q %q %v", v.GetContent(), v.GetContentType(), v.GetMetadata())
	}
	got, err := n.Client.GetTx(ctxOf(t), req(&pb.GetTxRequest{TxHash: r.GetTxHash()}))
	if err != nil || !bytes.Equal(got.Msg.GetTx(), tx) {
		t.Fatalf("tx bytes did not round-trip: %v", err)
	}
	// Over JSON too: the JSON codec escapes, the value is the same.
	js, err := n.JSON.QueryRecord(ctxOf(t), req(&pb.QueryRecordRequest{RecordId: "markup", WithVersions: true}))
	if err != nil || string(js.Msg.GetVersions()[0].GetContent()) != nasty {
		t.Fatalf("JSON round trip: %v", err)
	}
	n.CommitOK(t, off.Tx(nodetest.AccessRecord("markup", nasty, "<law>")))
	log, err := n.Client.QueryAccessLog(ctxOf(t), req(&pb.QueryAccessLogRequest{RecordId: "markup"}))
	if err != nil || len(log.Msg.GetEntries()) != 1 || log.Msg.GetEntries()[0].GetPurpose() != nasty {
		t.Fatalf("purpose did not round-trip: %v %v", log, err)
	}

	// ".." is refused: an id starts with a letter or a digit (exec.ValidID).
	if _, err := n.Client.SubmitTx(ctxOf(t), req(&pb.SubmitTxRequest{Tx: nodetest.Sign(off.Key, &pb.TxBody{ChainId: c.ChainID, Signer: off.ID,
		Nonce: off.NextNonce(), Action: nodetest.CreateRecord("..", nodetest.BusinessLicense, "citizen0", []byte("dots")).Action})})); connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("record '..': %v", err)
	}

	failed := []struct {
		name string
		body *pb.TxBody
		code pb.ResultCode
	}{
		{"unknown record type, content by hash", func() *pb.TxBody {
			b := nodetest.CreateRecord("u1", "no_such_type", "citizen0", nil)
			b.GetCreateRecord().ContentHash = crypto.Ed25519SHA256.Hash([]byte("x"))
			return b
		}(), pb.ResultCode_RESULT_CODE_NOT_FOUND},
		{"unknown subject", nodetest.CreateRecord("u3", nodetest.BusinessLicense, "nobody", []byte("x")), pb.ResultCode_RESULT_CODE_NOT_FOUND},
		{"existing record id", nodetest.CreateRecord("lic-1", nodetest.BusinessLicense, "citizen1", []byte("x")), pb.ResultCode_RESULT_CODE_ALREADY_EXISTS},
	}
	for _, f := range failed {
		t.Run(f.name, func(t *testing.T) {
			id := f.body.GetCreateRecord().GetRecordId()
			before, _ := n.Client.QueryRecord(ctxOf(t), req(&pb.QueryRecordRequest{RecordId: id}))
			r := n.Commit(t, off.Tx(f.body))
			if r.GetResult().GetCode() != f.code || r.GetResult().GetReason() == "" {
				t.Fatalf("want committed %v with a reason, got %v", f.code, r.GetResult())
			}
			after, err := n.Client.QueryRecord(ctxOf(t), req(&pb.QueryRecordRequest{RecordId: id}))
			if before == nil {
				if connect.CodeOf(err) != connect.CodeNotFound {
					t.Fatalf("failed create left a record: %v %v", after, err)
				}
			} else if err != nil || !proto.Equal(before.Msg.GetRecord(), after.Msg.GetRecord()) {
				t.Fatalf("failed create changed record %s", id)
			}
		})
	}
}

// jsonPost posts body as the Connect JSON form of procedure and returns the
// HTTP status and the decoded Connect error.
func jsonPost(t *testing.T, n *nodetest.Node, procedure, contentType string, body []byte) (int, string, string) {
	t.Helper()
	r, err := http.NewRequestWithContext(ctxOf(t), http.MethodPost, n.URL+procedure, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", contentType)
	resp, err := n.HTTP.Do(r)
	if err != nil {
		t.Fatalf("POST %s: %v", procedure, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var e struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	_ = json.Unmarshal(raw, &e)
	return resp.StatusCode, e.Code, e.Message
}

func TestHostileJSON(t *testing.T) {
	c, n, _ := hostileChain(t)
	submit := govnodev1connect.NodeServiceSubmitTxProcedure
	validTx := base64.StdEncoding.EncodeToString(c.Official.Tx(nodetest.CreateRecord("json-ok", nodetest.BusinessLicense, "citizen0", []byte("x"))))
	deep := strings.Repeat(`{"a":`, 20000) + "1" + strings.Repeat("}", 20000)
	deepArr := `{"x":` + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + `}`
	cases := []struct {
		name, proc, body, code string
	}{
		{"tx as number", submit, `{"tx": 123}`, "invalid_argument"},
		{"tx as object", submit, `{"tx": {"a": 1}}`, "invalid_argument"},
		{"tx not base64", submit, `{"tx": "!!!not base64!!!"}`, "invalid_argument"},
		{"tx null (empty)", submit, `{"tx": null}`, "invalid_argument"},
		{"string for uint64", submit, `{"tx": "AA==", "waitTimeoutMs": "abc"}`, "invalid_argument"},
		{"negative uint64", submit, `{"tx": "AA==", "waitTimeoutMs": -1}`, "invalid_argument"},
		{"fractional uint64", submit, `{"tx": "AA==", "waitTimeoutMs": 1.5}`, "invalid_argument"},
		{"uint64 overflow", submit, `{"tx": "AA==", "waitTimeoutMs": "99999999999999999999999"}`, "invalid_argument"},
		{"bool as string", submit, `{"tx": "AA==", "waitForCommit": "yes"}`, "invalid_argument"},
		{"duplicate key", submit, `{"tx": "AA==", "tx": "AA=="}`, "invalid_argument"},
		{"array body", submit, `[]`, "invalid_argument"},
		{"string body", submit, `"tx"`, "invalid_argument"},
		{"truncated JSON", submit, `{"tx": `, "invalid_argument"},
		{"empty body", submit, ``, "invalid_argument"},
		{"invalid UTF-8", submit, "{\"tx\": \"\xff\xfe\"}", "invalid_argument"},
		{"deeply nested objects", submit, deep, "invalid_argument"},
		{"deeply nested arrays in unknown field", submit, deepArr, "invalid_argument"},
		{"unknown field only (empty tx)", submit, `{"foo": {"bar": [1, 2, 3]}}`, "invalid_argument"},
		{"garbage tx bytes", submit, `{"tx": "3q2+7w=="}`, "invalid_argument"},
		{"GetTx hash as number", govnodev1connect.NodeServiceGetTxProcedure, `{"txHash": 5}`, "invalid_argument"},
		{"GetTx short hash", govnodev1connect.NodeServiceGetTxProcedure, `{"txHash": "AAAA"}`, "invalid_argument"},
		{"GetBlock negative height", govnodev1connect.NodeServiceGetBlockProcedure, `{"height": "-1"}`, "invalid_argument"},
		{"GetBlock height overflow", govnodev1connect.NodeServiceGetBlockProcedure, `{"height": "18446744073709551616"}`, "invalid_argument"},
		{"GetBlock height 0", govnodev1connect.NodeServiceGetBlockProcedure, `{"height": 0}`, "invalid_argument"},
		{"GetBlock height max", govnodev1connect.NodeServiceGetBlockProcedure, `{"height": "18446744073709551615"}`, "not_found"},
		{"QueryState prove as string", govnodev1connect.NodeServiceQueryStateProcedure, `{"key": "AA==", "prove": "true"}`, "invalid_argument"},
		{"QueryRecord id as array", govnodev1connect.NodeServiceQueryRecordProcedure, `{"recordId": ["a"]}`, "invalid_argument"},
		{"QueryAccessLog limit as string", govnodev1connect.NodeServiceQueryAccessLogProcedure, `{"recordId": "lic-1", "limit": "x"}`, "invalid_argument"},
	}
	before := n.Status(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, code, msg := jsonPost(t, n, tc.proc, "application/json", []byte(tc.body))
			if status < 400 || status >= 500 || code != tc.code || msg == "" {
				t.Fatalf("HTTP %d code %q message %q, want 4xx %q with a message", status, code, msg, tc.code)
			}
			unchanged(t, n, before)
		})
	}
	// An unknown field next to a valid tx is refused naming it (a
	// misspelled wait_for_commit once ran the request without it), and
	// the tx is not admitted; without the field it commits.
	status, code, msg := jsonPost(t, n, submit, "application/json", []byte(`{"tx": "`+validTx+`", "futureField": {"x": 1}, "waitForCommit": true}`))
	if status != http.StatusBadRequest || code != "invalid_argument" || !strings.Contains(msg, `unknown field "futureField"`) {
		t.Fatalf("valid tx with an unknown field: HTTP %d %s %s, want invalid_argument naming the field", status, code, msg)
	}
	unchanged(t, n, before)
	status, code, msg = jsonPost(t, n, submit, "application/json", []byte(`{"tx": "`+validTx+`", "waitForCommit": true}`))
	if status != http.StatusOK {
		t.Fatalf("valid tx: HTTP %d %s %s", status, code, msg)
	}
	if _, err := n.Client.QueryRecord(ctxOf(t), req(&pb.QueryRecordRequest{RecordId: "json-ok"})); err != nil {
		t.Fatalf("record of the JSON tx: %v", err)
	}
}

// TestHostileQueries: hostile ids in queries are refused or not found, and
// never answer with another object's data.
func TestHostileQueries(t *testing.T) {
	_, n, _ := hostileChain(t)
	ctx := ctxOf(t)
	ids := []string{"../lic-1", "lic-1/", "lic-1/00000000000000000001", "lic-1\x00", "..", "/", "a/../lic-1", strings.Repeat("x", 10000), "<script>", "' OR '1'='1"}
	okCodes := []connect.Code{connect.CodeNotFound, connect.CodeInvalidArgument}
	for _, id := range ids {
		name := fmt.Sprintf("%.20q", id)
		t.Run("record "+name, func(t *testing.T) {
			_, err := n.Client.QueryRecord(ctx, req(&pb.QueryRecordRequest{RecordId: id, WithVersions: true, Prove: true}))
			if !containsCode(okCodes, connect.CodeOf(err)) {
				t.Fatalf("QueryRecord(%q): %v", id, err)
			}
		})
		t.Run("identity "+name, func(t *testing.T) {
			_, err := n.Client.QueryIdentity(ctx, req(&pb.QueryIdentityRequest{IdentityId: id, Prove: true}))
			if !containsCode(okCodes, connect.CodeOf(err)) {
				t.Fatalf("QueryIdentity(%q): %v", id, err)
			}
		})
		t.Run("access log by record "+name, func(t *testing.T) {
			r, err := n.Client.QueryAccessLog(ctx, req(&pb.QueryAccessLogRequest{RecordId: id}))
			if err == nil && len(r.Msg.GetEntries()) > 0 {
				t.Fatalf("access log of record %q answered %d entries of record %q", id, len(r.Msg.GetEntries()), r.Msg.GetEntries()[0].GetRecordId())
			}
		})
	}
	// The subject index is accsubj/<subject>/<record>/<seq>: a subject id
	// that contains '/' must not select another query's entries.
	for _, subj := range []string{"citizen0/lic-1", "citizen0/lic-1/", "citizen0/"} {
		t.Run("access log by subject "+subj, func(t *testing.T) {
			r, err := n.Client.QueryAccessLog(ctx, req(&pb.QueryAccessLogRequest{SubjectId: subj}))
			if err == nil && len(r.Msg.GetEntries()) > 0 {
				t.Fatalf("access log of subject %q answered %d entries of subject citizen0 (want InvalidArgument: not an identity id)", subj, len(r.Msg.GetEntries()))
			}
		})
	}
	r, err := n.Client.QueryState(ctx, req(&pb.QueryStateRequest{Key: []byte("id/\x00\xff"), Prove: true}))
	if err != nil || r.Msg.GetFound() {
		t.Fatalf("QueryState of a binary key: %v %v", r, err)
	}
	// A stream from the far future waits quietly and ends with its context.
	// (Connect's client returns from StreamEvents only once the server
	// sends its first message or ends the call, so call it aside.)
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		s, err := n.Client.StreamEvents(sctx, req(&pb.StreamEventsRequest{FromHeight: math.MaxUint64}))
		if err != nil {
			done <- err
			return
		}
		defer s.Close()
		if s.Receive() {
			done <- fmt.Errorf("stream from MaxUint64 sent height %d", s.Msg().GetHeight())
			return
		}
		done <- s.Err()
	}()
	n.Status(t)
	cancel()
	select {
	case err := <-done:
		if code := connect.CodeOf(err); err != nil && code != connect.CodeCanceled {
			t.Fatalf("stream from MaxUint64: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("stream from MaxUint64 did not end with its context")
	}
	n.Status(t)
}

func TestHostileHTTP(t *testing.T) {
	_, n, _ := hostileChain(t)
	submit := n.URL + govnodev1connect.NodeServiceSubmitTxProcedure
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		_, _ = w.Write(b)
		_ = w.Close()
		return buf.Bytes()
	}
	bomb := gz(make([]byte, 64<<20)) // 64 MiB of zeros, about 64 KiB compressed
	cases := []struct {
		name, method, url, contentType string
		headers                        map[string]string
		body                           []byte
	}{
		{"GET on a POST route", http.MethodGet, submit, "", nil, nil},
		{"PUT on a POST route", http.MethodPut, submit, "application/json", nil, []byte(`{}`)},
		{"DELETE", http.MethodDelete, submit, "", nil, nil},
		{"bad content type", http.MethodPost, submit, "text/plain", nil, []byte(`{}`)},
		{"xml content type", http.MethodPost, submit, "application/xml", nil, []byte(`<tx/>`)},
		{"no content type", http.MethodPost, submit, "", nil, []byte(`{}`)},
		{"unknown procedure", http.MethodPost, n.URL + "/govnode.v1.NodeService/Nope", "application/json", nil, []byte(`{}`)},
		{"unknown service", http.MethodPost, n.URL + "/evil.v1.Service/Do", "application/json", nil, []byte(`{}`)},
		{"path traversal", http.MethodGet, n.URL + "/../../etc/passwd", "", nil, nil},
		{"binary garbage as proto", http.MethodPost, submit, "application/proto", nil, []byte{0xff, 0xff, 0xff, 0xff}},
		{"bad connect protocol version", http.MethodPost, submit, "application/json", map[string]string{"Connect-Protocol-Version": "9"}, []byte(`{}`)},
		{"gzip that is not gzip", http.MethodPost, submit, "application/json", map[string]string{"Content-Encoding": "gzip"}, []byte("not gzip")},
		{"gzip bomb", http.MethodPost, submit, "application/proto", map[string]string{"Content-Encoding": "gzip"}, bomb},
		{"JSON body over the read limit", http.MethodPost, submit, "application/json", nil, []byte(`{"tx": "` + strings.Repeat("A", 5<<20) + `"}`)},
	}
	before := n.Status(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := http.NewRequestWithContext(ctxOf(t), tc.method, tc.url, bytes.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.contentType != "" {
				r.Header.Set("Content-Type", tc.contentType)
			}
			for k, v := range tc.headers {
				r.Header.Set(k, v)
			}
			resp, err := n.HTTP.Do(r)
			if err != nil {
				t.Fatalf("%s %s: %v", tc.method, tc.url, err)
			}
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			if resp.StatusCode < 400 || resp.StatusCode >= 500 {
				t.Fatalf("HTTP %d, want a 4xx", resp.StatusCode)
			}
			unchanged(t, n, before)
		})
	}
}

// TestFlood: 2,000 submits from one client at once, a mix of garbage,
// replays, duplicates and unknown signers beside a stream of 200 valid txs
// from one account. Every submit is answered with success or a clear
// error; the valid txs all commit; the node still answers.
func TestFlood(t *testing.T) {
	c, n, committed := hostileChain(t)
	stranger, _ := crypto.GenerateKey(pb.KeyScheme_KEY_SCHEME_ED25519, bytes.NewReader(bytes.Repeat([]byte{9}, 64)))
	ghost := nodetest.Sign(stranger, &pb.TxBody{ChainId: c.ChainID, Signer: "ghost", Nonce: 1, Action: nodetest.GrantTypeAccess("g", nodetest.Dept, nodetest.BusinessLicense, math.MaxInt32).Action})
	const total, valid, workers = 2000, 200, 32
	validTxs := make([][]byte, valid)
	cit := c.Citizens[0]
	for i := range validTxs {
		validTxs[i] = cit.Tx(nodetest.GrantTypeAccess(fmt.Sprintf("flood-%d", i), nodetest.Dept, nodetest.BusinessLicense, math.MaxInt32))
	}
	allowed := map[connect.Code]bool{
		connect.CodeInvalidArgument: true, connect.CodeFailedPrecondition: true, connect.CodeAlreadyExists: true,
		connect.CodeUnauthenticated: true, connect.CodeResourceExhausted: true,
	}
	var (
		mu     sync.Mutex
		counts = map[string]int{}
		bad    []string
	)
	jobs := make(chan []byte)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for tx := range jobs {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				_, err := n.Client.SubmitTx(ctx, req(&pb.SubmitTxRequest{Tx: tx}))
				cancel()
				mu.Lock()
				var ce *connect.Error
				switch {
				case err == nil:
					counts["ok"]++
				case !allowed[connect.CodeOf(err)] || !errorsAsConnect(err, &ce) || ce.Message() == "":
					bad = append(bad, err.Error())
				default:
					counts[connect.CodeOf(err).String()]++
				}
				mu.Unlock()
			}
		}()
	}
	// The valid stream goes in order from its own goroutine (the mempool
	// holds nonces up to max_nonce_gap ahead).
	validErr := make(chan error, 1)
	go func() {
		for _, tx := range validTxs {
			// The flood may have sent the same tx first: then it is refused
			// as a duplicate (pending) or a stale nonce (committed).
			_, err := n.Client.SubmitTx(context.Background(), req(&pb.SubmitTxRequest{Tx: tx}))
			if err != nil {
				if _, gerr := n.Client.GetTx(context.Background(), req(&pb.GetTxRequest{TxHash: crypto.Ed25519SHA256.Hash(tx)})); gerr != nil {
					validErr <- fmt.Errorf("%w (and the tx is not known: %v)", err, gerr)
					return
				}
			}
		}
		validErr <- nil
	}()
	for i := range total - valid {
		var tx []byte
		switch i % 5 {
		case 0:
			tx = []byte(fmt.Sprintf("garbage %d", i))
		case 1:
			tx = committed // replay
		case 2:
			tx = ghost
		case 3:
			tx = validTxs[i%valid] // duplicate of (or replay of) a valid one
		case 4:
			tx = nil
		}
		jobs <- tx
	}
	close(jobs)
	wg.Wait()
	if err := <-validErr; err != nil {
		t.Fatalf("valid stream refused: %v", err)
	}
	if len(bad) > 0 {
		t.Fatalf("%d submits got unclear answers, e.g. %s", len(bad), bad[0])
	}
	t.Logf("flood answers: %v", counts)
	for i, tx := range validTxs {
		if r := waitCommitted(t, n, crypto.Ed25519SHA256.Hash(tx)); r.GetResult().GetCode() != pb.ResultCode_RESULT_CODE_OK {
			t.Fatalf("valid tx %d committed with %v", i, r.GetResult())
		}
	}
	n.WaitIdle(t)
}

func errorsAsConnect(err error, target **connect.Error) bool { return errors.As(err, target) }
