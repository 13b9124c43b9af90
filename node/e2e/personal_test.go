package e2e

// Personal data on a four-process network with the test network's default
// TLS APIs (docs/ARCHITECTURE.md §5 and §6, "Who can read what",
// "Erasing personal data", "Inter-agency sync"): a department application
// syncs the protected records it is entitled to and every delivery is in
// the subject's access log on every node; an unentitled one gets events
// without content and its node counts and logs the refusal; an erasure
// removes the payload from every node's disk, from a node that was down
// during it once it catches up, and never reaches a node that syncs the
// chain from scratch afterwards, while the record's proofs still verify.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/keystore"
	"github.com/govnode/govnode/node/nodetest"
	pb "github.com/govnode/govnode/proto/govnode/v1"
	"github.com/govnode/govnode/proto/govnode/v1/govnodev1connect"
)

// erasureWindow is how long after an erasure commits a node may hold the
// payload on disk (the bound).
const erasureWindow = 60 * time.Second

// official is department dept's official (registrar, issuer of every
// sample type) with its key from node i's home.
func (c *cluster) official(i int) account {
	c.t.Helper()
	k, err := keystore.Load(filepath.Join(c.home(i), "keys", "official.key"), "")
	if err != nil {
		c.t.Fatal(err)
	}
	return account{id: fmt.Sprintf("dept%d-official", i), key: k}
}

// signTx signs body for a with a's next nonce.
func (c *cluster) signTx(a account, body *pb.TxBody) []byte {
	c.t.Helper()
	c.mu.Lock()
	c.nonces[a.id]++
	body.ChainId, body.Signer, body.Nonce = c.chainID, a.id, c.nonces[a.id]
	c.mu.Unlock()
	b, err := proto.Marshal(body)
	if err != nil {
		c.t.Fatal(err)
	}
	sig, err := a.key.Sign(crypto.TxSignBytes(c.chainID, b))
	if err != nil {
		c.t.Fatal(err)
	}
	tx, err := proto.Marshal(&pb.SignedTx{Body: b, Signature: sig})
	if err != nil {
		c.t.Fatal(err)
	}
	return tx
}

// commit submits tx (with payloads) to node i and waits for its commit.
func (c *cluster) commit(i int, tx []byte, payloads ...*pb.Payload) *pb.SubmitTxResponse {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := c.clients[i].SubmitTx(ctx, connect.NewRequest(&pb.SubmitTxRequest{Tx: tx, Payloads: payloads, WaitForCommit: true}))
	if err != nil {
		c.t.Fatalf("submit to node%d: %v", i, err)
	}
	if r.Msg.GetResult().GetCode() != pb.ResultCode_RESULT_CODE_OK {
		c.t.Fatalf("tx failed: %v %s", r.Msg.GetResult().GetCode(), r.Msg.GetResult().GetReason())
	}
	return r.Msg
}

// waitGrep waits until node i's home holds marker (want) or not.
func (c *cluster) waitGrep(i int, marker string, want bool, timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		hits := nodetest.GrepDir(c.t, c.home(i), marker)
		if (len(hits) > 0) == want {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("node%d after %s: marker in %v, want present=%v\n%s", i, timeout, hits, want, c.logTail(i))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// nodeLog is node i's whole log.
func (c *cluster) nodeLog(i int) string {
	c.t.Helper()
	b, err := os.ReadFile(filepath.Join(c.dir, fmt.Sprintf("node%d.log", i)))
	if err != nil {
		c.t.Fatal(err)
	}
	return string(b)
}

// accessLog is node i's access log of subject.
func (c *cluster) accessLog(i int, subject string) []*pb.AccessEntry {
	c.t.Helper()
	ctx, cancel := c.ctx()
	defer cancel()
	r, err := c.clients[i].QueryAccessLog(ctx, connect.NewRequest(&pb.QueryAccessLogRequest{SubjectId: subject}))
	if err != nil {
		c.t.Fatalf("access log on node%d: %v", i, err)
	}
	return r.Msg.GetEntries()
}

// follow reads node i's event stream as client until height to and
// returns the contents it carried and the record events it sent.
func follow(t *testing.T, client govnodev1connect.NodeServiceClient, req *pb.StreamEventsRequest, to uint64) ([]*pb.RecordContent, []*pb.RecordEvent) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st, err := client.StreamEvents(ctx, connect.NewRequest(req))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var contents []*pb.RecordContent
	var events []*pb.RecordEvent
	for st.Receive() {
		m := st.Msg()
		contents = append(contents, m.GetContents()...)
		for _, ev := range m.GetEvents() {
			if re := ev.GetRecord(); re != nil {
				events = append(events, re)
			}
		}
		if m.GetHeight() >= to {
			return contents, events
		}
	}
	t.Fatalf("stream ended before height %d: %v", to, st.Err())
	return nil, nil
}

func TestPersonalDataLive(t *testing.T) {
	c := newClusterWith(t, 4, "crash", clusterOpts{tls: true})
	subject := c.accounts()[0] // registered by dept0
	issuer, app, stranger := c.official(0), c.official(1), c.official(2)
	marker := fmt.Sprintf("MARKER-%d", time.Now().UnixNano())
	content := []byte("birth certificate of account0, born 1990-01-01, " + marker)

	// Created on node0 with its payload beside the tx; every member node
	// holds the payload soon after (fetched from node0).
	salt, err := crypto.NewPayloadSalt()
	if err != nil {
		t.Fatal(err)
	}
	created := c.commit(0, c.signTx(issuer, &pb.TxBody{Action: &pb.TxBody_CreateRecord{CreateRecord: &pb.CreateRecord{
		RecordId: "bc-live", RecordType: "birth_certificate", SubjectId: subject.id,
		ContentHash: c.suite.PayloadCommitment(salt, content), ContentType: "text/plain",
	}}}), &pb.Payload{Salt: salt, Content: content})
	for i := 0; i < c.n; i++ {
		c.waitGrep(i, marker, true, 30*time.Second)
	}
	// The subject lets department 1 use its birth certificates.
	grant := c.commit(0, c.signTx(subject, &pb.TxBody{Action: &pb.TxBody_GrantAccess{GrantAccess: &pb.GrantAccess{
		GrantId: "g-live", GranteeDepartmentId: "dept1", RecordType: "birth_certificate", Purpose: "benefits",
		ValidUntil: time.Now().Add(24 * time.Hour).Unix(),
	}}}))

	// Department 1's application syncs birth certificates with content
	// from its own node.
	filter := &pb.StreamEventsRequest{FromHeight: 1, RecordTypes: []string{"birth_certificate"}, SubjectIds: []string{subject.id},
		IncludeContent: true, Purpose: "benefit eligibility sync"}
	contents, events := follow(t, c.clientAs(1, app.id, app.key), filter, grant.GetHeight())
	if len(contents) != 1 || contents[0].GetRecordId() != "bc-live" || !bytes.Equal(contents[0].GetPayload().GetContent(), content) {
		t.Fatalf("department 1's stream carried %v", contents)
	}
	for _, ev := range events {
		if ev.GetRecordType() != "birth_certificate" || ev.GetSubjectId() != subject.id {
			t.Fatalf("the filtered stream sent %v", ev)
		}
	}
	// The delivery is in the subject's access log on every node.
	for i := 0; i < c.n; i++ {
		deadline := time.Now().Add(20 * time.Second)
		for {
			log := c.accessLog(i, subject.id)
			if len(log) == 1 {
				e := log[0]
				if e.GetAccessorId() != app.id || e.GetDepartmentId() != "dept1" || e.GetRecordedBy() != "dept1" || e.GetChannel() != "events" || e.GetGrantId() != "g-live" {
					t.Fatalf("node%d's entry: %v", i, e)
				}
				break
			}
			if len(log) > 1 || time.Now().After(deadline) {
				t.Fatalf("node%d's access log of %s: %v", i, subject.id, log)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	// Department 2 has no grant: its stream comes without content, its
	// read is refused, its node counts and logs it, and nothing reaches
	// the chain.
	strangerClient := c.clientAs(2, stranger.id, stranger.key)
	contents, events = follow(t, strangerClient, filter, grant.GetHeight())
	if len(contents) != 0 || len(events) == 0 {
		t.Fatalf("department 2's stream: %d contents, %d events", len(contents), len(events))
	}
	ctx, cancel := c.ctx()
	_, err = strangerClient.QueryRecord(ctx, connect.NewRequest(&pb.QueryRecordRequest{RecordId: "bc-live", IncludeContent: true, Purpose: "curious"}))
	cancel()
	if connect.CodeOf(err) != connect.CodePermissionDenied || !strings.Contains(err.Error(), "no live grant") {
		t.Fatalf("department 2's read: %v", err)
	}
	if v := c.labelledMetric(2, "govnode_api_protected_reads_refused_total", `reason="not_entitled"`); v < 2 {
		t.Fatalf("node2 counted %v refusals, want 2 (stream, query)", v)
	}
	if !strings.Contains(c.nodeLog(2), "protected content refused") {
		t.Fatal("node2 did not log the refusal")
	}
	if log := c.accessLog(2, subject.id); len(log) != 1 {
		t.Fatalf("a refused read reached the access log: %v", log)
	}

	// Erasure. node3 is down meanwhile (it holds the payload and must
	// drop it once it catches up).
	c.kill(3, syscall.SIGTERM)
	out, err := exec.Command(binary, "tx", "record", "erase", "--id", "bc-live", "--reason", "citizen's request",
		"--legal-basis", "GDPR art. 17", "--testnet", c.dir, "--signer", subject.id, "--wait", "--output", "json").CombinedOutput()
	if err != nil {
		t.Fatalf("govnode tx record erase: %v\n%s", err, out)
	}
	erasedAt := time.Now()
	for i := 0; i < 3; i++ {
		c.waitGrep(i, marker, false, erasureWindow-time.Since(erasedAt))
	}
	c.start(3)
	c.waitUp(3)
	c.waitHeight(created.GetHeight()+3, 30*time.Second, 3)
	c.waitGrep(3, marker, false, erasureWindow)

	// A node syncing the whole chain after the erasure gets no payload
	// and logs no error about it: node2 loses its data directory.
	c.kill(2, syscall.SIGTERM)
	if err := os.RemoveAll(filepath.Join(c.home(2), "data")); err != nil {
		t.Fatal(err)
	}
	logBefore := len(c.nodeLog(2))
	c.startWith(2, "--recover-missing-state")
	c.waitUp(2)
	head := c.settle(60*time.Second, 0, 1, 2, 3)
	if head <= created.GetHeight() {
		t.Fatalf("node2 synced to %d, below the record's height %d", head, created.GetHeight())
	}
	if hits := nodetest.GrepDir(t, c.home(2), marker); len(hits) > 0 {
		t.Fatalf("a node synced after the erasure holds the payload: %v", hits)
	}
	for _, line := range strings.Split(c.nodeLog(2)[logBefore:], "\n") {
		if strings.Contains(line, `"part":"payloads"`) && (strings.Contains(line, `"level":"ERROR"`) || strings.Contains(line, `"level":"WARN"`)) {
			t.Fatalf("node2 complained about payloads while syncing: %s", line)
		}
	}

	// The content is gone for everyone, with the height; the record and
	// its proofs still verify.
	ctx, cancel = c.ctx()
	_, err = c.clientAs(1, app.id, app.key).QueryRecord(ctx, connect.NewRequest(&pb.QueryRecordRequest{RecordId: "bc-live", IncludeContent: true, Purpose: "recheck"}))
	cancel()
	if connect.CodeOf(err) != connect.CodeNotFound || !strings.Contains(err.Error(), "erased at height") {
		t.Fatalf("read after erasure: %v", err)
	}
	for _, i := range []int{1, 2} {
		out, err := exec.Command(binary, "query", "record", "bc-live", "--versions", "--prove", "--testnet", c.dir, "--node", c.apis[i]).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "verified") {
			t.Fatalf("query record --prove on node%d: %v\n%s", i, err, out)
		}
	}
}
