package chaos

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/keystore"
	pb "github.com/govnode/govnode/proto/govnode/v1"
	"github.com/govnode/govnode/proto/govnode/v1/govnodev1connect"
)

// Load offers signed transactions at a steady rate spread over every node,
// and records each one the API acknowledged as committed.
//
// Every citizen account sends its transactions one at a time in nonce
// order: it takes a token from a shared ticker (the rate), submits with
// wait_for_commit to a node (account j starts at node j mod n), and keeps
// resending the same signed bytes, to the next node after an error, until
// some node confirms it committed — SubmitTx returned committed, or a
// GetTx after a duplicate or nonce refusal found it committed. Resending
// identical bytes to several nodes is itself a test of exactly-once: the
// checker finds a tx committed twice. A tx whose account is stopped before
// any confirmation is not acknowledged (it may still commit).
type Load struct {
	Rate    float64
	Clients []govnodev1connect.NodeServiceClient
	ChainID string
	Suite   crypto.Suite // the chain's: tx hashes
	Tag     string       // makes grant ids unique per run
	// WaitTimeout is the server-side wait for a commit per submission.
	WaitTimeout time.Duration

	mu       sync.Mutex
	acks     []Ack
	sent     atomic.Int64
	failures atomic.Int64
}

type loadAccount struct {
	id  string
	key crypto.PrivateKey
}

// LoadAccounts reads the accounts' key files (unencrypted, as `govnode
// testnet` writes them).
func LoadAccounts(ids, keys []string) ([]loadAccount, error) {
	var out []loadAccount
	for j, id := range ids {
		k, err := keystore.Load(keys[j], "")
		if err != nil {
			return nil, fmt.Errorf("key of %s: %w", id, err)
		}
		out = append(out, loadAccount{id: id, key: k})
	}
	return out, nil
}

// Run offers load until ctx is done and returns when every account has
// stopped.
func (l *Load) Run(ctx context.Context, accounts []loadAccount) {
	tokens := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(time.Duration(float64(time.Second) / l.Rate))
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				select {
				case tokens <- struct{}{}:
				default: // every account busy: the offered rate drops
				}
			}
		}
	})
	for j, a := range accounts {
		wg.Go(func() { l.account(ctx, j, a, tokens) })
	}
	wg.Wait()
}

func (l *Load) account(ctx context.Context, j int, a loadAccount, tokens <-chan struct{}) {
	n := len(l.Clients)
	node := j % n
	for nonce := uint64(1); ; nonce++ {
		select {
		case <-ctx.Done():
			return
		case <-tokens:
		}
		tx, err := l.grantTx(a, nonce)
		if err != nil {
			l.failures.Add(1)
			return
		}
		hash := l.Suite.Hash(tx)
		l.sent.Add(1)
		for {
			if ctx.Err() != nil {
				return
			}
			h, ok := l.submit(ctx, node, tx, hash)
			if ok {
				l.mu.Lock()
				l.acks = append(l.acks, Ack{Tx: string(hash), Height: h, Node: node})
				l.mu.Unlock()
				break
			}
			l.failures.Add(1)
			node = (node + 1) % n
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

// submit sends tx to node and reports whether the node confirmed it
// committed, and at which height.
func (l *Load) submit(ctx context.Context, node int, tx, hash []byte) (uint64, bool) {
	cctx, cancel := context.WithTimeout(ctx, l.WaitTimeout+2*time.Second)
	defer cancel()
	r, err := l.Clients[node].SubmitTx(cctx, connect.NewRequest(&pb.SubmitTxRequest{
		Tx: tx, WaitForCommit: true, WaitTimeoutMs: uint64(l.WaitTimeout / time.Millisecond)}))
	if err == nil && r.Msg.GetCommitted() {
		return r.Msg.GetHeight(), true
	}
	var ce *connect.Error
	if err != nil && errors.As(err, &ce) && ctx.Err() == nil {
		switch ce.Code() {
		case connect.CodeAlreadyExists, connect.CodeFailedPrecondition, connect.CodeDeadlineExceeded:
			// Known to the node: in its mempool or already committed.
			gctx, gcancel := context.WithTimeout(ctx, 3*time.Second)
			defer gcancel()
			g, err := l.Clients[node].GetTx(gctx, connect.NewRequest(&pb.GetTxRequest{TxHash: hash}))
			if err == nil && !g.Msg.GetPending() && g.Msg.GetHeight() > 0 {
				return g.Msg.GetHeight(), true
			}
		}
	}
	return 0, false
}

// grantTx is a signed GrantAccess of a with nonce.
func (l *Load) grantTx(a loadAccount, nonce uint64) ([]byte, error) {
	body, err := proto.Marshal(&pb.TxBody{
		ChainId: l.ChainID, Signer: a.id, Nonce: nonce,
		Action: &pb.TxBody_GrantAccess{GrantAccess: &pb.GrantAccess{
			GrantId: fmt.Sprintf("chaos-%s-%s-%d", l.Tag, a.id, nonce), GranteeDepartmentId: "dept1",
			RecordType: "birth_certificate", Purpose: "chaos", ValidUntil: time.Now().Add(24 * time.Hour).Unix(),
		}},
	})
	if err != nil {
		return nil, err
	}
	sig, err := a.key.Sign(crypto.TxSignBytes(l.ChainID, body))
	if err != nil {
		return nil, err
	}
	return proto.Marshal(&pb.SignedTx{Body: body, Signature: sig})
}

// Acks are the acknowledged transactions so far.
func (l *Load) Acks() []Ack {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Ack(nil), l.acks...)
}

// Stats are the counts of distinct txs sent and of failed submissions.
func (l *Load) Stats() (sent, failures int64) { return l.sent.Load(), l.failures.Load() }
