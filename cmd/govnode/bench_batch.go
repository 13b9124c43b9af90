package main

// The load connections' senders: each load connection collects the txs due
// on it for a short window and submits them with one SubmitTxs request
// (issue 20), one request in flight per connection, so a signer's txs,
// which always use one connection, reach the node in nonce order.
//
// Backpressure: a tx the node refuses with resource_exhausted (the
// mempool's backlog bound, node/api/batch.go) is sent again after the
// node's retry hint, and its signer's later txs are held back behind it
// (sent before it, they would wait behind its nonce gap). That is what an
// application does with a busy node: it waits as told and keeps its own
// order. A tx refused otherwise is final, and its signer's later txs are
// not sent. A tx still refused or held when the step's sends end counts as
// rejected with its last refusal ("resource_exhausted: ...") or as not
// sent.

import (
	"context"
	"errors"
	"strconv"
	"time"

	"connectrpc.com/connect"

	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Batching of the load connections' submissions.
const (
	// benchBatchWindow is how long a connection collects due txs before
	// it sends them (once the first has arrived).
	benchBatchWindow = 3 * time.Millisecond
	// benchBatchMax bounds the txs of one request (the API takes up to
	// 1024, node/api/batch.go).
	benchBatchMax = 256
	// benchBatchBytes bounds a request's bytes well under the API's 4 MiB.
	benchBatchBytes = 2 << 20
	// benchDefaultRetry is the retry delay when a refusal gives none.
	benchDefaultRetry = 100 * time.Millisecond
)

// connSender submits the txs of one load connection.
type connSender struct {
	r         *benchRunner
	conn      *nodeConn
	txs       []*benchTx
	outs      []benchOutcome
	scheduled func(i int) time.Time

	// held: per signer, its txs waiting behind a refused one (the refused
	// one first), and when it may be sent again.
	held    map[*benchSigner][]int
	retryAt map[*benchSigner]time.Time
	// dead: signers with a tx refused for good in this phase.
	dead map[*benchSigner]bool
}

// run sends the txs that arrive on in until in is closed and nothing is
// held, or ctx ends; then it settles what is left.
func (c *connSender) run(ctx context.Context, in <-chan int) {
	c.held, c.retryAt, c.dead = map[*benchSigner][]int{}, map[*benchSigner]time.Time{}, map[*benchSigner]bool{}
	closed := false
	for ctx.Err() == nil && (!closed || len(c.held) > 0) {
		var batch []int
		// Held signers whose retry time has come go first, in order.
		now := time.Now()
		var wake time.Time
		for s, at := range c.retryAt {
			if !at.After(now) {
				batch = append(batch, c.held[s]...)
				delete(c.held, s)
				delete(c.retryAt, s)
			} else if wake.IsZero() || at.Before(wake) {
				wake = at
			}
		}
		if !closed {
			var ok bool
			if batch, ok = c.collect(ctx, in, batch, wake); !ok {
				closed = true
			}
		} else if len(batch) == 0 && !wake.IsZero() {
			select {
			case <-ctx.Done():
			case <-time.After(time.Until(wake)):
			}
		}
		c.send(ctx, batch)
	}
	// Sends are over: what is held or still queued was not committed by
	// this step.
	for s, idx := range c.held {
		for _, i := range idx {
			c.notSent(i, "not sent: client backlog still queued at the deadline")
		}
		delete(c.held, s)
	}
	for i := range in {
		c.notSent(i, "not sent: client backlog still queued at the deadline")
	}
}

// collect adds to batch the txs that arrive within benchBatchWindow of
// the first (waiting for the first until wake, if set and batch is
// empty), up to benchBatchMax. A tx of a held signer joins its held txs.
// It reports false once in is closed.
func (c *connSender) collect(ctx context.Context, in <-chan int, batch []int, wake time.Time) ([]int, bool) {
	var window <-chan time.Time
	if len(batch) > 0 {
		window = time.After(benchBatchWindow)
	} else if !wake.IsZero() {
		window = time.After(time.Until(wake))
	}
	for len(batch) < benchBatchMax {
		select {
		case <-ctx.Done():
			return batch, true
		case <-window:
			return batch, true
		case i, ok := <-in:
			if !ok {
				return batch, false
			}
			if c.sendable(i) {
				batch = append(batch, i)
				if window == nil || len(batch) == 1 {
					window = time.After(benchBatchWindow)
				}
			}
		}
	}
	return batch, true
}

func (c *connSender) notSent(i int, why string) {
	tx := c.txs[i]
	o := &c.outs[i]
	o.kind, o.scheduled, o.sent = tx.kind, c.scheduled(i), true
	if o.rejectMsg == "" { // a tx refused and held keeps its refusal
		o.rejectMsg = why
	}
}

// send submits batch in order: runs of txs without payloads in SubmitTxs
// requests (within benchBatchMax and benchBatchBytes), a tx with payloads
// alone in SubmitTx. A batch may be longer than collect makes it: held
// signers' txs come back into it whole when their retry time comes.
// A signer refused earlier in the batch has its later txs held or
// dropped as the refusal says.
func (c *connSender) send(ctx context.Context, batch []int) {
	for len(batch) > 0 {
		if c.txs[batch[0]].payloads != nil {
			c.sendOne(ctx, batch[0])
			batch = batch[1:]
			continue
		}
		// At least one tx a request, so that send always moves on.
		n, size := 0, 0
		for n < len(batch) && n < benchBatchMax && c.txs[batch[n]].payloads == nil && (n == 0 || size+len(c.txs[batch[n]].raw) <= benchBatchBytes) {
			size += len(c.txs[batch[n]].raw)
			n++
		}
		c.sendBatch(ctx, batch[:n])
		batch = batch[n:]
	}
}

// admit filters out the txs of signers held or dead since the batch was
// formed (a refusal earlier in it), holding or dropping them.
func (c *connSender) admit(idx []int) []int {
	out := idx[:0:0]
	for _, i := range idx {
		if c.sendable(i) {
			out = append(out, i)
		}
	}
	return out
}

// sendable reports whether tx i may go out now; a tx of a signer refused
// earlier is counted not sent, one of a signer held back for a retry
// joins its signer's held txs.
func (c *connSender) sendable(i int) bool {
	s := c.txs[i].signer
	switch {
	case c.dead[s]:
		c.notSent(i, "not sent: an earlier transaction of its signer was refused (its nonce would be a gap)")
		return false
	case c.held[s] != nil:
		c.held[s] = append(c.held[s], i)
		return false
	}
	return true
}

func (c *connSender) sendBatch(ctx context.Context, idx []int) {
	idx = c.admit(idx)
	if len(idx) == 0 {
		return
	}
	raws := make([][]byte, len(idx))
	for k, i := range idx {
		raws[k] = c.txs[i].raw
		c.mark(i)
	}
	cctx, cancel := context.WithTimeout(ctx, c.r.callTimeout)
	resp, err := c.conn.client.SubmitTxs(cctx, connect.NewRequest(&pb.SubmitTxsRequest{Txs: raws}))
	cancel()
	now := time.Now()
	if err != nil {
		// The whole request failed: each tx is refused with its error.
		for _, i := range idx {
			c.refused(i, connect.CodeOf(err), rejectReason(err), retryHint(err, nil), now)
		}
		return
	}
	rs := resp.Msg.GetResults()
	for k, i := range idx {
		if k >= len(rs) {
			c.refused(i, connect.CodeInternal, "internal: no result for the tx", 0, now)
			continue
		}
		r := rs[k]
		if r.GetCode() == "" {
			c.outs[i].accepted, c.outs[i].admitted = true, now
			continue
		}
		var code connect.Code
		_ = code.UnmarshalText([]byte(r.GetCode()))
		msg := r.GetMessage()
		if len(msg) > 120 {
			msg = msg[:120] + "..."
		}
		c.refused(i, code, r.GetCode()+": "+msg, retryHint(nil, resp.Header()), now)
	}
}

func (c *connSender) sendOne(ctx context.Context, i int) {
	if len(c.admit([]int{i})) == 0 {
		return
	}
	tx := c.txs[i]
	c.mark(i)
	cctx, cancel := context.WithTimeout(ctx, c.r.callTimeout)
	_, err := c.conn.client.SubmitTx(cctx, connect.NewRequest(&pb.SubmitTxRequest{Tx: tx.raw, Payloads: tx.payloads}))
	cancel()
	if err != nil {
		c.refused(i, connect.CodeOf(err), rejectReason(err), retryHint(err, nil), time.Now())
		return
	}
	c.outs[i].accepted, c.outs[i].admitted = true, time.Now()
}

// mark records that tx i is being submitted.
func (c *connSender) mark(i int) {
	o := &c.outs[i]
	if o.sent && o.rejectMsg != "" {
		o.retries++
	}
	o.kind, o.scheduled, o.sent = c.txs[i].kind, c.scheduled(i), true
}

// refused records a refusal of tx i: resource_exhausted holds its signer
// for a retry after the hint; any other refusal is final.
func (c *connSender) refused(i int, code connect.Code, msg string, retry time.Duration, now time.Time) {
	c.outs[i].rejectMsg = msg
	s := c.txs[i].signer
	if code == connect.CodeResourceExhausted {
		c.outs[i].backpressured = true
		if retry <= 0 {
			retry = benchDefaultRetry
		}
		// The batch's results come in order and a held signer has no tx
		// in a batch, so appending keeps the signer's nonce order.
		c.held[s] = append(c.held[s], i)
		if _, ok := c.retryAt[s]; !ok {
			c.retryAt[s] = now.Add(retry)
		}
		return
	}
	c.dead[s] = true
}

// retryHint is the delay a refusal asks for: Govnode-Retry-After-Ms, else
// Retry-After (whole seconds), from a response's or an error's headers.
func retryHint(err error, h interface{ Get(string) string }) time.Duration {
	var ce *connect.Error
	if h == nil && errors.As(err, &ce) {
		h = ce.Meta()
	}
	if h == nil {
		return 0
	}
	if ms, err := strconv.ParseInt(h.Get("Govnode-Retry-After-Ms"), 10, 64); err == nil && ms > 0 {
		return time.Duration(ms) * time.Millisecond
	}
	if s, err := strconv.ParseInt(h.Get("Retry-After"), 10, 64); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	return 0
}
