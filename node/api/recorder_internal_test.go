package api

import (
	"context"
	"errors"
	"strings"
	"testing"

	"connectrpc.com/connect"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/ledger/exec"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

type noSigner struct{}

func (noSigner) AccessSigner(exec.Reader) (string, crypto.PrivateKey, error) {
	return "", nil, errors.New("not used")
}

func accessesOf(caller string, n int) []*pb.ContentAccess {
	out := make([]*pb.ContentAccess, n)
	for i := range out {
		out[i] = &pb.ContentAccess{RecordId: "r", AccessorId: caller, Purpose: "p", Channel: exec.ChannelEvents}
	}
	return out
}

// One caller's releases cannot fill the recorder's queue: past its share
// it gets ResourceExhausted naming it, while another caller still queues;
// taking its groups into a tx frees its share.
func TestRecorderBoundsEachCaller(t *testing.T) {
	// running: no loop starts, so what is queued stays queued.
	ar := &accessRecorder{signer: noSigner{}, running: true}
	gone, cancel := context.WithCancel(context.Background())
	cancel() // record returns at once, its group left in the queue
	for i := 0; i < maxCallerQueue/exec.MaxAccessesPerTx; i++ {
		if _, err := ar.record(gone, accessesOf("stream", exec.MaxAccessesPerTx)); connect.CodeOf(err) != connect.CodeDeadlineExceeded {
			t.Fatalf("queue %d: %v", i, err)
		}
	}
	_, err := ar.record(gone, accessesOf("stream", 1))
	if connect.CodeOf(err) != connect.CodeResourceExhausted || !strings.Contains(err.Error(), "stream") {
		t.Fatalf("over the caller's share: %v", err)
	}
	if _, err := ar.record(gone, accessesOf("reader", 1)); connect.CodeOf(err) != connect.CodeDeadlineExceeded {
		t.Fatalf("another caller: %v", err)
	}
	for ar.take() != nil {
	}
	ar.running = true // take stopped the (absent) loop; keep it from starting
	if len(ar.byCaller) != 0 || ar.queued != 0 {
		t.Fatalf("after take: %v queued %d", ar.byCaller, ar.queued)
	}
	if _, err := ar.record(gone, accessesOf("stream", 1)); connect.CodeOf(err) != connect.CodeDeadlineExceeded {
		t.Fatalf("after its groups were taken: %v", err)
	}
	// The whole queue's bound holds across callers.
	ar = &accessRecorder{signer: noSigner{}, running: true}
	for i := 0; i < maxAccessQueue/exec.MaxAccessesPerTx; i++ {
		if _, err := ar.record(gone, accessesOf(string(rune('a'+i)), exec.MaxAccessesPerTx)); connect.CodeOf(err) != connect.CodeDeadlineExceeded {
			t.Fatalf("caller %d: %v", i, err)
		}
	}
	if _, err := ar.record(gone, accessesOf("late", 1)); connect.CodeOf(err) != connect.CodeResourceExhausted {
		t.Fatalf("over the whole queue: %v", err)
	}
}
