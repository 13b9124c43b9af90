package main

// The load runner of `govnode bench`: an open-loop scheduler, one queue per
// worker, the block follower that sees commits, and the result check.

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"

	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// benchRunner sends planned transactions and follows blocks. Load goes
// through loads (the --conns connections, each to one node; a signer
// always uses benchSigner.conn); conns, one per node, carry everything
// else (status, nonces, results).
type benchRunner struct {
	suite       crypto.Suite // the chain's: tx hashes
	conns       []*nodeConn
	loads       []*nodeConn
	follow      *nodeConn
	concurrency int
	callTimeout time.Duration
	poll        time.Duration
}

// phaseResult is a phase's outcomes and the next height to follow from.
type phaseResult struct {
	outs  []benchOutcome
	start time.Time
	next  uint64
}

// phase offers txs open-loop at rate tx/s (rate 0: all at once) for
// duration, then waits until every accepted transaction is seen in a block
// or duration+grace has passed. Blocks are followed from height from.
//
// Ownership: outs[i] is written by the one worker that sends tx i and read
// only after every worker is done; commit times are atomics written by the
// follower; the scheduler owns the schedule.
func (r *benchRunner) phase(ctx context.Context, txs []*benchTx, rate float64, duration, grace time.Duration, from uint64) phaseResult {
	index := make(map[string]int, len(txs))
	for i, tx := range txs {
		index[tx.hash] = i
	}
	outs := make([]benchOutcome, len(txs))
	committed := make([]atomic.Int64, len(txs))

	followCtx, stopFollow := context.WithCancel(ctx)
	defer stopFollow()
	var next atomic.Uint64
	next.Store(from)
	followDone := make(chan struct{})
	go func() {
		defer close(followDone)
		r.followBlocks(followCtx, &next, index, committed)
	}()

	// One sender per load connection; a signer always uses the same
	// connection, so its transactions are sent in nonce order
	// (bench_batch.go). Queues hold the whole plan, so the scheduler never
	// blocks on a slow node.
	queues := make([]chan int, len(r.loads))
	for i := range queues {
		queues[i] = make(chan int, len(txs))
	}
	start := time.Now()
	deadline := start.Add(duration + grace)
	sendCtx, stopSends := context.WithDeadline(ctx, deadline)
	defer stopSends()
	scheduled := func(i int) time.Time {
		if rate <= 0 {
			return start
		}
		return start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
	}
	var wg sync.WaitGroup
	for w := range queues {
		cs := &connSender{r: r, conn: r.loads[w], txs: txs, outs: outs, scheduled: scheduled}
		wg.Go(func() { cs.run(sendCtx, queues[w]) })
	}

	dispatched := 0
	dispatch := func(upTo int) {
		for ; dispatched < upTo; dispatched++ {
			queues[txs[dispatched].signer.conn] <- dispatched
		}
	}
	if rate <= 0 {
		dispatch(len(txs))
	} else {
		tick := max(time.Duration(float64(time.Second)/rate), time.Millisecond)
		ticker := time.NewTicker(tick)
		dispatch(1)
		for dispatched < len(txs) && ctx.Err() == nil {
			select {
			case <-ctx.Done():
			case now := <-ticker.C:
				due := int(now.Sub(start).Seconds()*rate) + 1
				dispatch(min(due, len(txs)))
			}
		}
		ticker.Stop()
	}
	for _, q := range queues {
		close(q)
	}
	wg.Wait()

	// Wait for stragglers: every accepted transaction committed, or the
	// deadline.
	for ctx.Err() == nil && time.Now().Before(deadline) {
		pending := 0
		for i := range outs {
			if outs[i].accepted && committed[i].Load() == 0 {
				pending++
			}
		}
		if pending == 0 {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(r.poll):
		}
	}
	stopFollow()
	<-followDone
	for i := range outs {
		if ns := committed[i].Load(); ns != 0 && outs[i].accepted {
			outs[i].committed = time.Unix(0, ns)
		}
	}
	return phaseResult{outs: outs, start: start, next: next.Load()}
}

// rejectReason groups a SubmitTx error: its code and message.
func rejectReason(err error) string {
	var ce *connect.Error
	if errors.As(err, &ce) {
		msg := ce.Message()
		if len(msg) > 120 {
			msg = msg[:120] + "..."
		}
		return ce.Code().String() + ": " + msg
	}
	return err.Error()
}

// followBlocks polls the followed node for new heights and marks the
// planned transactions found in each block as committed, with the time the
// block was seen.
func (r *benchRunner) followBlocks(ctx context.Context, next *atomic.Uint64, index map[string]int, committed []atomic.Int64) {
	for ctx.Err() == nil {
		cctx, cancel := context.WithTimeout(ctx, r.callTimeout)
		st, err := r.follow.status(cctx)
		cancel()
		if err == nil {
			for h := next.Load(); h <= st.GetHeight() && ctx.Err() == nil; h = next.Load() {
				cctx, cancel := context.WithTimeout(ctx, r.callTimeout)
				res, err := r.follow.sdk.GetBlock(cctx, h, false)
				cancel()
				if err != nil {
					break
				}
				seen := time.Now().UnixNano()
				for _, raw := range res.GetBlock().GetTxs() {
					if i, ok := index[string(r.suite.Hash(raw))]; ok {
						committed[i].CompareAndSwap(0, seen)
					}
				}
				next.Store(h + 1)
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(r.poll):
		}
	}
}

// checkResults reads the result of every committed transaction and counts
// the failed ones by result code.
func (r *benchRunner) checkResults(ctx context.Context, txs []*benchTx, outs []benchOutcome) map[string]int {
	var mu sync.Mutex
	failures := map[string]int{}
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range r.concurrency {
		wg.Go(func() {
			for i := range jobs {
				cctx, cancel := context.WithTimeout(ctx, r.callTimeout)
				res, err := r.conns[txs[i].node].sdk.GetTx(cctx, []byte(txs[i].hash))
				cancel()
				var why string
				switch {
				case err != nil:
					why = "result unreadable: " + connect.CodeOf(err).String()
				case res.GetResult().GetCode() != pb.ResultCode_RESULT_CODE_OK:
					why = txs[i].kind + ": " + res.GetResult().GetCode().String()
				}
				if why != "" {
					mu.Lock()
					failures[why]++
					mu.Unlock()
				}
			}
		})
	}
	for i := range outs {
		if !outs[i].committed.IsZero() {
			jobs <- i
		}
	}
	close(jobs)
	wg.Wait()
	return failures
}
