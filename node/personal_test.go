package node_test

// Protected content through a running node's API (docs/ARCHITECTURE.md
// §6, "Who can read what"): the payload travels beside the tx, the chain
// holds its commitment, content goes only to an entitled authenticated
// caller once the access entry is committed, every refusal has its code,
// and erasure removes the content for good.

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/node/nodetest"
	pb "github.com/govnode/govnode/proto/govnode/v1"
	"github.com/govnode/govnode/proto/govnode/v1/govnodev1connect"
)

// protectedCreate is a CreateRecord of a protected type and the payload
// to send beside it.
func protectedCreate(t *testing.T, id, subject string, content []byte) (*pb.TxBody, *pb.Payload) {
	t.Helper()
	salt, err := crypto.NewPayloadSalt()
	if err != nil {
		t.Fatal(err)
	}
	return &pb.TxBody{Action: &pb.TxBody_CreateRecord{CreateRecord: &pb.CreateRecord{
		RecordId: id, RecordType: nodetest.BirthCert, SubjectId: subject,
		ContentHash: crypto.Ed25519SHA256.PayloadCommitment(salt, content), ContentType: "text/plain",
	}}}, &pb.Payload{Salt: salt, Content: content}
}

func submitWithPayload(t *testing.T, n *nodetest.Node, tx []byte, p ...*pb.Payload) (*pb.SubmitTxResponse, error) {
	t.Helper()
	resp, err := n.Client.SubmitTx(ctxOf(t), req(&pb.SubmitTxRequest{Tx: tx, Payloads: p, WaitForCommit: true}))
	if err != nil {
		return nil, err
	}
	return resp.Msg, nil
}

func readContent(t *testing.T, c govnodev1connect.NodeServiceClient, id, purpose, basis string) (*pb.QueryRecordResponse, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := c.QueryRecord(ctx, req(&pb.QueryRecordRequest{RecordId: id, IncludeContent: true, Purpose: purpose, LegalBasis: basis}))
	if err != nil {
		return nil, err
	}
	return resp.Msg, nil
}

func TestProtectedContentReadsAreLoggedAndGated(t *testing.T) {
	c := nodetest.NewChain(t, nodetest.Options{TLS: true})
	n := c.Start(t)
	subject, other := c.Citizens[0], c.Citizens[1]
	secret := []byte("birth certificate of citizen0: MARKER-7f3a born 1990-01-01")

	// The payload travels beside the tx; the tx and the block hold its
	// commitment only.
	body, payload := protectedCreate(t, "bc-1", subject.ID, secret)
	tx := c.Official.Tx(body)
	res, err := submitWithPayload(t, n, tx, payload)
	if err != nil || res.GetResult().GetCode() != pb.ResultCode_RESULT_CODE_OK {
		t.Fatalf("create protected record: %v %v", err, res.GetResult())
	}
	blk, err := n.Client.GetBlock(ctxOf(t), req(&pb.GetBlockRequest{Height: res.GetHeight()}))
	if err != nil {
		t.Fatal(err)
	}
	for _, raw := range blk.Msg.GetBlock().GetTxs() {
		if bytes.Contains(raw, []byte("MARKER-7f3a")) {
			t.Fatal("the protected content is in a block")
		}
	}

	// Public parts for everyone: the record, its versions and hashes.
	pub, err := n.Client.QueryRecord(ctxOf(t), req(&pb.QueryRecordRequest{RecordId: "bc-1", WithVersions: true}))
	if err != nil {
		t.Fatal(err)
	}
	if v := pub.Msg.GetVersions(); len(v) != 1 || len(v[0].GetContent()) != 0 || !bytes.Equal(v[0].GetContentHash(), crypto.Ed25519SHA256.PayloadCommitment(payload.Salt, secret)) || len(pub.Msg.GetContents()) != 0 {
		t.Fatalf("public view of a protected record: %v", pub.Msg)
	}

	// Anonymous: PermissionDenied, nothing logged.
	_, err = readContent(t, n.Client, "bc-1", "curious", "")
	nodetest.WantCode(t, err, connect.CodePermissionDenied)
	// An authenticated citizen who is neither subject nor holder.
	_, err = readContent(t, n.ClientAs(t, other), "bc-1", "curious", "")
	nodetest.WantCode(t, err, connect.CodePermissionDenied)
	// A forged client certificate (another identity's name, a wrong key).
	_, err = readContent(t, n.ClientWithKey(t, subject.ID, other.Key), "bc-1", "mine", "")
	nodetest.WantCode(t, err, connect.CodeUnauthenticated)
	// No purpose.
	_, err = readContent(t, n.ClientAs(t, subject), "bc-1", "", "")
	nodetest.WantCode(t, err, connect.CodeInvalidArgument)
	if log := accessLog(t, n, subject.ID); len(log) != 0 {
		t.Fatalf("refused reads were logged on chain: %v", log)
	}

	// The subject reads it: the content comes with the receipt of its
	// committed access entry.
	got, err := readContent(t, n.ClientAs(t, subject), "bc-1", "check my record", "")
	if err != nil {
		t.Fatalf("subject reads own record: %v", err)
	}
	if len(got.GetContents()) != 1 || !bytes.Equal(got.GetContents()[0].GetPayload().GetContent(), secret) {
		t.Fatalf("contents %v", got.GetContents())
	}
	if got.GetAccess().GetHeight() == 0 {
		t.Fatalf("no access receipt: %v", got)
	}
	// The issuing department's official reads it with a legal basis.
	if _, err := readContent(t, n.ClientAs(t, c.Official), "bc-1", "benefit check", "Civil Registry Act s.12"); err != nil {
		t.Fatalf("issuing department's official: %v", err)
	}
	log := accessLog(t, n, subject.ID)
	if len(log) != 2 {
		t.Fatalf("access log has %d entries, want 2: %v", len(log), log)
	}
	e := log[0]
	if e.GetAccessorId() != subject.ID || e.GetRecordedBy() != nodetest.Dept || e.GetChannel() != "query" || e.GetPurpose() != "check my record" || e.GetHeight() != got.GetAccess().GetHeight() {
		t.Fatalf("first entry %v", e)
	}
	if log[1].GetAccessorId() != c.Official.ID || log[1].GetDepartmentId() != nodetest.Dept || log[1].GetLegalBasis() != "Civil Registry Act s.12" {
		t.Fatalf("second entry %v", log[1])
	}
	// The entries are proved against a committed header.
	al, err := n.Client.QueryAccessLog(ctxOf(t), req(&pb.QueryAccessLogRequest{SubjectId: subject.ID, Prove: true}))
	if err != nil {
		t.Fatal(err)
	}
	if len(al.Msg.GetProofs()) != len(al.Msg.GetEntries()) {
		t.Fatalf("%d proofs for %d entries", len(al.Msg.GetProofs()), len(al.Msg.GetEntries()))
	}
	cfg := nodetest.ConsensusConfig(n.Status(t))
	for i, p := range al.Msg.GetProofs() {
		en := al.Msg.GetEntries()[i]
		nodetest.VerifyStateProof(t, cfg, exec.AccessEntryKey(en.GetRecordId(), en.GetSeq()), p)
	}
	if v := metric(t, n, `govnode_api_protected_reads_refused_total{reason="anonymous"}`); v < 1 {
		t.Fatalf("anonymous refusal not counted: %v", v)
	}
	if v := metric(t, n, `govnode_api_protected_reads_refused_total{reason="not_entitled"}`); v < 1 {
		t.Fatalf("unentitled refusal not counted: %v", v)
	}

	// Concurrent reads share access-entry txs (group commit): every read
	// is logged, in fewer txs than reads.
	const readers = 8
	errs := make(chan error, readers)
	for i := 0; i < readers; i++ {
		go func() {
			_, err := readContent(t, n.ClientAs(t, subject), "bc-1", "concurrent", "")
			errs <- err
		}()
	}
	for i := 0; i < readers; i++ {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent read: %v", err)
		}
	}
	txs := map[string]bool{}
	for _, e := range accessLog(t, n, subject.ID)[2:] {
		txs[string(e.GetTxHash())] = true
	}
	if len(accessLog(t, n, subject.ID)) != 2+readers || len(txs) >= readers {
		t.Fatalf("%d concurrent reads: %d entries in %d txs", readers, len(accessLog(t, n, subject.ID))-2, len(txs))
	}

	// The log reads in pages: every entry once, in order, the last page
	// without a token; a token that is not one is refused.
	all := accessLog(t, n, subject.ID)
	var paged []*pb.AccessEntry
	token, pages := "", 0
	for {
		page, err := n.Client.QueryAccessLog(ctxOf(t), req(&pb.QueryAccessLogRequest{SubjectId: subject.ID, Limit: 3, PageToken: token}))
		if err != nil {
			t.Fatal(err)
		}
		paged = append(paged, page.Msg.GetEntries()...)
		pages++
		if token = page.Msg.GetNextPageToken(); token == "" {
			break
		}
		if pages > 10 {
			t.Fatal("pages do not end")
		}
	}
	if len(paged) != len(all) || pages != (len(all)+2)/3 {
		t.Fatalf("%d entries in %d pages, want %d", len(paged), pages, len(all))
	}
	for i := range all {
		if all[i].GetRecordId() != paged[i].GetRecordId() || all[i].GetSeq() != paged[i].GetSeq() {
			t.Fatalf("entry %d: %v, want %v", i, paged[i], all[i])
		}
	}
	for _, bad := range []string{"bc-1", "bc-1/x", "bc-1/0", "a b/1"} {
		_, err := n.Client.QueryAccessLog(ctxOf(t), req(&pb.QueryAccessLogRequest{SubjectId: subject.ID, PageToken: bad}))
		nodetest.WantCode(t, err, connect.CodeInvalidArgument)
	}
	_, err = n.Client.QueryAccessLog(ctxOf(t), req(&pb.QueryAccessLogRequest{RecordId: "bc-1", PageToken: "other/1"}))
	nodetest.WantCode(t, err, connect.CodeInvalidArgument)
	// A record's log pages the same way, in sequence order.
	var seqs []uint64
	for token = ""; ; {
		page, err := n.Client.QueryAccessLog(ctxOf(t), req(&pb.QueryAccessLogRequest{RecordId: "bc-1", Limit: 4, PageToken: token}))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Msg.GetEntries() {
			seqs = append(seqs, e.GetSeq())
		}
		if token = page.Msg.GetNextPageToken(); token == "" {
			break
		}
	}
	for i, sq := range seqs {
		if sq != uint64(i+1) || len(seqs) != len(all) {
			t.Fatalf("record log pages gave sequences %v", seqs)
		}
	}

	// The payload is on this node's disk before the erasure.
	if hits := nodetest.GrepDir(t, c.Home, "MARKER-7f3a"); len(hits) == 0 {
		t.Fatal("the marker is nowhere in the home before the erasure: the check below proves nothing")
	}

	// Erasure: the subject asks with a legal basis; the content is gone,
	// the record and its hash stay.
	erase := subject.Tx(&pb.TxBody{Action: &pb.TxBody_EraseRecordContent{EraseRecordContent: &pb.EraseRecordContent{
		RecordId: "bc-1", Reason: "right to erasure", LegalBasis: "GDPR art. 17"}}})
	er := n.CommitOK(t, erase)
	_, err = readContent(t, n.ClientAs(t, subject), "bc-1", "check my record", "")
	nodetest.WantCode(t, err, connect.CodeNotFound)
	if want := "erased at height"; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("read after erasure: %v, want %q", err, want)
	}
	after, err := n.Client.QueryRecord(ctxOf(t), req(&pb.QueryRecordRequest{RecordId: "bc-1", WithVersions: true, Prove: true}))
	if err != nil {
		t.Fatal(err)
	}
	if after.Msg.GetRecord().GetErasedHeight() != er.GetHeight() || len(after.Msg.GetVersions()) != 1 || len(after.Msg.GetVersions()[0].GetContentHash()) != crypto.HashSize {
		t.Fatalf("record after erasure: %v", after.Msg)
	}
	nodetest.VerifyStateProof(t, cfg, exec.RecordKey("bc-1"), after.Msg.GetProof())
	if v := metric(t, n, "govnode_payloads_accepted_total"); v != 1 {
		t.Fatalf("govnode_payloads_accepted_total %v, want 1", v)
	}
	// Gone from the disk (the payload store deletes and compacts), well
	// within the 60 s the issue allows.
	deadline := time.Now().Add(60 * time.Second)
	for hits := nodetest.GrepDir(t, c.Home, "MARKER-7f3a"); len(hits) > 0; hits = nodetest.GrepDir(t, c.Home, "MARKER-7f3a") {
		if time.Now().After(deadline) {
			t.Fatalf("60 s after the erasure the marker is still in %v", hits)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The counter follows the deletion.
	for v := metric(t, n, "govnode_payloads_erased_total"); v != 1; v = metric(t, n, "govnode_payloads_erased_total") {
		if time.Now().After(deadline) {
			t.Fatalf("govnode_payloads_erased_total %v, want 1", v)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestProtectedPayloadRefusals(t *testing.T) {
	c := nodetest.NewChain(t, nodetest.Options{TLS: true})
	n := c.Start(t)
	subject := c.Citizens[0].ID
	for _, tc := range []struct {
		name string
		make func() ([]byte, []*pb.Payload)
		code connect.Code
		want string
	}{
		{"no payload", func() ([]byte, []*pb.Payload) {
			b, _ := protectedCreate(t, "bc-a", subject, []byte("x"))
			return c.Official.Tx(b), nil
		}, connect.CodeInvalidArgument, "exactly one payload"},
		{"payload of other content", func() ([]byte, []*pb.Payload) {
			b, p := protectedCreate(t, "bc-b", subject, []byte("x"))
			p.Content = []byte("y")
			return c.Official.Tx(b), []*pb.Payload{p}
		}, connect.CodeInvalidArgument, "does not match"},
		{"content in the tx", func() ([]byte, []*pb.Payload) {
			b, p := protectedCreate(t, "bc-c", subject, []byte("x"))
			b.GetCreateRecord().Content = []byte("x")
			return c.Official.Tx(b), []*pb.Payload{p}
		}, connect.CodeInvalidArgument, "must not be in the tx"},
		{"oversized", func() ([]byte, []*pb.Payload) {
			b, p := protectedCreate(t, "bc-d", subject, bytes.Repeat([]byte("x"), 2049))
			return c.Official.Tx(b), []*pb.Payload{p}
		}, connect.CodeResourceExhausted, "allows 2048"},
		{"signed by a citizen, not an issuer", func() ([]byte, []*pb.Payload) {
			b, p := protectedCreate(t, "bc-f", subject, []byte("forged PLANTED-forged"))
			return c.Citizens[1].Tx(b), []*pb.Payload{p}
		}, connect.CodePermissionDenied, "is not an official"},
		{"bad signature", func() ([]byte, []*pb.Payload) {
			b, p := protectedCreate(t, "bc-g", subject, []byte("forged PLANTED-forged"))
			tx := c.Official.Tx(b)
			tx[len(tx)-1] ^= 1
			return tx, []*pb.Payload{p}
		}, connect.CodeUnauthenticated, "signature"},
		{"payload for a public type", func() ([]byte, []*pb.Payload) {
			_, p := protectedCreate(t, "lt-e", subject, []byte("x"))
			return c.Official.Tx(nodetest.CreateRecord("lt-e", nodetest.LandTitle, subject, []byte("x"))), []*pb.Payload{p}
		}, connect.CodeInvalidArgument, "is public"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tx, p := tc.make()
			_, err := submitWithPayload(t, n, tx, p...)
			nodetest.WantCode(t, err, tc.code)
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v, want %q", err, tc.want)
			}
			if _, err := n.Client.GetTx(ctxOf(t), req(&pb.GetTxRequest{TxHash: crypto.Ed25519SHA256.Hash(tx)})); connect.CodeOf(err) != connect.CodeNotFound {
				t.Fatalf("refused tx is known to the node: %v", err)
			}
		})
	}
	// A refused tx's payload was never stored: nothing of it on disk.
	if hits := nodetest.GrepDir(t, c.Home, "PLANTED-forged"); len(hits) > 0 {
		t.Fatalf("the payload of a refused tx is on disk: %v", hits)
	}
}

// TestEventStreamFiltersAndContent: a department application following
// the stream with filters gets only the matching events, with the
// protected contents it is entitled to, each delivery logged.
func TestEventStreamFiltersAndContent(t *testing.T) {
	c := nodetest.NewChain(t, nodetest.Options{TLS: true})
	n := c.Start(t)
	subject := c.Citizens[0]
	n.CommitOK(t, c.Official.Tx(nodetest.CreateRecord("lt-1", nodetest.LandTitle, subject.ID, []byte("plot 7"))))
	body, payload := protectedCreate(t, "bc-9", subject.ID, []byte("born on a Tuesday"))
	res, err := submitWithPayload(t, n, c.Official.Tx(body), payload)
	if err != nil {
		t.Fatal(err)
	}

	// Anonymous with include_content: refused at once.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := n.Client.StreamEvents(ctx, req(&pb.StreamEventsRequest{FromHeight: 1, IncludeContent: true, Purpose: "sync"}))
	if err == nil {
		for st.Receive() {
		}
		err = st.Err()
	}
	nodetest.WantCode(t, err, connect.CodePermissionDenied)

	// The issuing department's application, filtered to birth
	// certificates: the land title's events are not sent; the birth
	// certificate's come with its content.
	st, err = n.ClientAs(t, c.Official).StreamEvents(ctx, req(&pb.StreamEventsRequest{
		FromHeight: 1, RecordTypes: []string{nodetest.BirthCert}, IncludeContent: true, Purpose: "registry sync"}))
	if err != nil {
		t.Fatal(err)
	}
	var contents []*pb.RecordContent
	for st.Receive() {
		m := st.Msg()
		for _, ev := range m.GetEvents() {
			if ev.GetRecord().GetRecordType() != nodetest.BirthCert {
				t.Fatalf("filtered stream sent %v", ev)
			}
		}
		contents = append(contents, m.GetContents()...)
		if m.GetHeight() >= res.GetHeight() {
			break
		}
	}
	if len(contents) != 1 || contents[0].GetRecordId() != "bc-9" || !bytes.Equal(contents[0].GetPayload().GetContent(), []byte("born on a Tuesday")) {
		t.Fatalf("stream contents %v (err %v)", contents, st.Err())
	}
	cancel()
	log := accessLog(t, n, subject.ID)
	if len(log) != 1 || log[0].GetChannel() != "events" || log[0].GetAccessorId() != c.Official.ID {
		t.Fatalf("access log after the stream: %v", log)
	}
}

func accessLog(t *testing.T, n *nodetest.Node, subject string) []*pb.AccessEntry {
	t.Helper()
	resp, err := n.Client.QueryAccessLog(ctxOf(t), req(&pb.QueryAccessLogRequest{SubjectId: subject}))
	if err != nil {
		t.Fatal(err)
	}
	return resp.Msg.GetEntries()
}

// The payload of a tx that is admitted and then fails in its block (an
// amendment of a version that moved on) is deleted once the failure is
// committed, not kept until the pending payloads expire.
func TestFailedTxPayloadDiscarded(t *testing.T) {
	c := nodetest.NewChain(t, nodetest.Options{TLS: true})
	n := c.Start(t)
	body, payload := protectedCreate(t, "bc-amend", c.Citizens[0].ID, []byte("v1"))
	if _, err := submitWithPayload(t, n, c.Official.Tx(body), payload); err != nil {
		t.Fatal(err)
	}
	salt, _ := crypto.NewPayloadSalt()
	content := []byte("stale amendment PLANTED-stale")
	amend := c.Official.Tx(&pb.TxBody{Action: &pb.TxBody_AmendRecord{AmendRecord: &pb.AmendRecord{
		RecordId: "bc-amend", ExpectedVersion: 7, ContentHash: crypto.Ed25519SHA256.PayloadCommitment(salt, content), Reason: "stale"}}})
	res, err := submitWithPayload(t, n, amend, &pb.Payload{Salt: salt, Content: content})
	if err != nil {
		t.Fatal(err)
	}
	if res.GetResult().GetCode() != pb.ResultCode_RESULT_CODE_CONFLICT {
		t.Fatalf("stale amendment: %v", res.GetResult())
	}
	deadline := time.Now().Add(10 * time.Second)
	for hits := nodetest.GrepDir(t, c.Home, "PLANTED-stale"); len(hits) > 0; hits = nodetest.GrepDir(t, c.Home, "PLANTED-stale") {
		if time.Now().After(deadline) {
			t.Fatalf("the failed tx's payload is still in %v", hits)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
