package client

// Transactions (docs/ARCHITECTURE.md §3, "A transaction's trip"): a
// TxBody names its chain, signer and nonce and carries one action; the
// signer signs the deterministic encoding of the body under
// crypto.TxSignBytes; SubmitTx admits the SignedTx to the mempool (with
// the payloads of a protected record beside it) and, if asked, waits for
// its commit.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/ledger/exec"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// DefaultWaitTimeout is how long Submit waits for a commit when
// SubmitOptions.Wait is set without a WaitTimeout.
const DefaultWaitTimeout = 30 * time.Second

// Tx wraps an action message of the TxBody oneof (&pb.CreateRecord{…},
// &pb.SubmitBid{…}, &pb.VoteProposal{…}, every kind the chain knows) into
// a body; Submit fills in its chain id, signer and nonce. Set Memo on the
// result to keep free text with the tx.
func Tx(action proto.Message) (*pb.TxBody, error) {
	if action == nil {
		return nil, errors.New("tx: nil action")
	}
	body := &pb.TxBody{}
	m := body.ProtoReflect()
	od := m.Descriptor().Oneofs().ByName("action")
	want := action.ProtoReflect().Descriptor().FullName()
	fields := od.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fd.Message() != nil && fd.Message().FullName() == want {
			m.Set(fd, protoreflect.ValueOfMessage(action.ProtoReflect()))
			return body, nil
		}
	}
	return nil, fmt.Errorf("tx: %s is not an action of a transaction", want)
}

// MustTx is Tx for an action known to be one; it panics otherwise.
func MustTx(action proto.Message) *pb.TxBody {
	b, err := Tx(action)
	if err != nil {
		panic(err)
	}
	return b
}

// ActionName is the proto name of body's action ("create_record"), "" if
// it has none.
func ActionName(body *pb.TxBody) string {
	m := body.ProtoReflect()
	od := m.Descriptor().Oneofs().ByName("action")
	if fd := m.WhichOneof(od); fd != nil {
		return string(fd.Name())
	}
	return ""
}

// SignedTx is a signed, serialized transaction.
type SignedTx struct {
	Raw  []byte // serialized SignedTx, what SubmitTx takes
	Hash []byte // the tx hash: the chain suite's hash of Raw
	Body *pb.TxBody
	// Suite is the chain's crypto suite, the signing key's.
	Suite crypto.Suite
	// Payloads travel beside the tx (a protected record's content).
	Payloads []*pb.Payload
}

// Sign serializes body deterministically, signs exactly those bytes
// (crypto.TxSignBytes under the body's chain id) and wraps them in a
// SignedTx. The tx hash is the hash of the crypto suite whose keys are of
// key's scheme (crypto.SuiteOfScheme): a chain takes keys of its suite's
// scheme only.
func Sign(key crypto.PrivateKey, body *pb.TxBody) (*SignedTx, error) {
	suite, err := crypto.SuiteOfScheme(key.Scheme())
	if err != nil {
		return nil, err
	}
	bb, err := proto.MarshalOptions{Deterministic: true}.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode tx body: %w", err)
	}
	sig, err := key.Sign(crypto.TxSignBytes(body.GetChainId(), bb))
	if err != nil {
		return nil, fmt.Errorf("sign tx: %w", err)
	}
	raw, err := proto.Marshal(&pb.SignedTx{Body: bb, Signature: sig})
	if err != nil {
		return nil, fmt.Errorf("encode tx: %w", err)
	}
	return &SignedTx{Raw: raw, Hash: suite.Hash(raw), Body: body, Suite: suite}, nil
}

// SubmitOptions tune Submit. The zero value submits without waiting.
type SubmitOptions struct {
	// Nonce, if not 0, is used as is; else the next one is taken from the
	// client's cache, or read from the node's committed state.
	Nonce uint64
	// Wait waits until the tx is committed (or WaitTimeout passes).
	Wait        bool
	WaitTimeout time.Duration
}

// Receipt is what a submission established.
type Receipt struct {
	TxHash  []byte
	ChainID string
	Signer  string
	Nonce   uint64
	Action  string
	// NodeTxHash is the hash the node reported (equal to TxHash unless the
	// node is broken).
	NodeTxHash []byte
	// Payloads are the commitments (content_hash) of the protected
	// contents sent beside the tx.
	Payloads [][]byte
	// Waited, Committed, Height and Result are set by a waiting Submit.
	Waited    bool
	Committed bool
	Height    uint64
	Result    *pb.TxResult
}

// ErrNotCommitted: a waiting Submit's tx was admitted but not committed
// within the wait. ErrTxFailed: it committed, but its action failed.
var (
	ErrNotCommitted = errors.New("tx accepted but not committed within the wait")
	ErrTxFailed     = errors.New("tx committed but its action failed")
)

// Err is nil for a tx that was admitted (and, when waited for, committed
// with RESULT_CODE_OK); else it wraps ErrNotCommitted or ErrTxFailed.
func (r *Receipt) Err() error {
	switch {
	case !r.Waited:
		return nil
	case !r.Committed:
		return fmt.Errorf("tx %x: %w", r.TxHash, ErrNotCommitted)
	case r.Result.GetCode() != pb.ResultCode_RESULT_CODE_OK:
		return fmt.Errorf("tx %x at height %d: %w: %s: %s", r.TxHash, r.Height, ErrTxFailed, r.Result.GetCode(), r.Result.GetReason())
	}
	return nil
}

// Prepare completes body for s and signs it: chain id (WithChainID, else the node's), signer
// (s.ID), nonce (o.Nonce, else the next one, NextNonce, which Prepare
// reserves: concurrent Prepares of one signer take distinct nonces, and
// Send gives it back when the call fails); for a record of a
// protected type it moves the content into a payload and puts the
// payload's commitment in the action (ProtectRecordContent). body is
// changed in place. Nothing is sent. A prepared tx that is never sent
// leaves its nonce unused: the signer's later txs wait behind it on the
// node, so send it, or make a new Client.
func (c *Client) Prepare(ctx context.Context, s *Signer, body *pb.TxBody, o SubmitOptions) (_ *SignedTx, err error) {
	if s == nil || s.Key == nil {
		return nil, errors.New("prepare tx: no signer")
	}
	if err := exec.ValidID(s.ID); err != nil {
		return nil, fmt.Errorf("signer %q: %w", s.ID, err)
	}
	if body == nil || body.GetAction() == nil {
		return nil, errors.New("prepare tx: a transaction without an action")
	}
	chainID, err := c.ChainID(ctx)
	if err != nil {
		return nil, err
	}
	body.ChainId, body.Signer = chainID, s.ID
	if body.Nonce = o.Nonce; body.Nonce == 0 {
		if body.Nonce, err = c.reserveNonce(ctx, s.ID); err != nil {
			return nil, err
		}
		defer func(n uint64) {
			if err != nil {
				c.releaseNonce(s.ID, n)
			}
		}(body.Nonce)
	}
	payloads, err := c.ProtectRecordContent(ctx, body)
	if err != nil {
		return nil, err
	}
	stx, err := Sign(s.Key, body)
	if err != nil {
		return nil, err
	}
	stx.Payloads = payloads
	return stx, nil
}

// Send submits a prepared tx and returns its receipt. A refusal of the
// node is an error (a *CallError with the node's code); a waited tx that
// did not commit, or whose action failed, is a receipt whose Err says so.
func (c *Client) Send(ctx context.Context, stx *SignedTx, o SubmitOptions) (*Receipt, error) {
	req := &pb.SubmitTxRequest{Tx: stx.Raw, Payloads: stx.Payloads}
	var extra time.Duration
	if o.Wait {
		wt := o.WaitTimeout
		if wt == 0 {
			wt = DefaultWaitTimeout
		}
		if wt < 0 {
			return nil, fmt.Errorf("wait timeout %s: must be positive", wt)
		}
		req.WaitForCommit, req.WaitTimeoutMs, extra = true, uint64(wt.Milliseconds()), wt
	}
	cctx, cancel := c.ctx(ctx, extra)
	defer cancel()
	body := stx.Body
	res, err := c.rpc.SubmitTx(cctx, connect.NewRequest(req))
	if err != nil {
		// Refused, the tx's nonce is free; lost on the way (a node down,
		// a timeout), it may or may not be: either way the nonce is given
		// back, and a node that did admit the tx refuses its reuse, which
		// Submit answers by reading the nonce again. Kept, a node down
		// would have left one gap per failed Submit.
		if isNonceRefusal(err) {
			c.forgetNonce(body.GetSigner())
		} else {
			c.releaseNonce(body.GetSigner(), body.GetNonce())
		}
		return nil, c.callErr(fmt.Sprintf("submit tx %x (signer %s, nonce %d)", stx.Hash, body.GetSigner(), body.GetNonce()), err)
	}
	c.usedNonce(body.GetSigner(), body.GetNonce())
	r := &Receipt{
		TxHash: stx.Hash, ChainID: body.GetChainId(), Signer: body.GetSigner(), Nonce: body.GetNonce(),
		Action: ActionName(body), NodeTxHash: res.Msg.GetTxHash(), Waited: o.Wait,
	}
	for _, p := range stx.Payloads {
		r.Payloads = append(r.Payloads, stx.Suite.PayloadCommitment(p.GetSalt(), p.GetContent()))
	}
	if o.Wait {
		r.Committed, r.Height, r.Result = res.Msg.GetCommitted(), res.Msg.GetHeight(), res.Msg.GetResult()
	}
	return r, nil
}

// Submit prepares body for s (Prepare), submits it (Send) and returns its
// receipt. When the node refuses the nonce it took from its cache (another
// client of the same signer used it), it reads the signer's nonce from the
// node again and tries once more.
func (c *Client) Submit(ctx context.Context, s *Signer, body *pb.TxBody, o SubmitOptions) (*Receipt, error) {
	for attempt := 0; ; attempt++ {
		stx, err := c.Prepare(ctx, s, body, o)
		if err != nil {
			return nil, err
		}
		r, err := c.Send(ctx, stx, o)
		if err != nil && o.Nonce == 0 && attempt == 0 && isNonceRefusal(err) {
			continue // Send forgot the cached nonce: Prepare reads it again
		}
		return r, err
	}
}

// isNonceRefusal: the node refused the tx's nonce (stale, taken, too far
// ahead, or the state machine's BAD_NONCE), all failed_precondition.
func isNonceRefusal(err error) bool {
	var ce *connect.Error
	return errors.As(err, &ce) && ce.Code() == connect.CodeFailedPrecondition && strings.Contains(ce.Message(), "nonce")
}

// NextNonce is the nonce signer's next tx takes: one past the last this
// client used or reserved, else one past the last the node's committed state shows
// (key exec.NonceKey: 8 bytes big-endian, absent when none was used). The
// committed state does not count txs of the signer still in a mempool.
func (c *Client) NextNonce(ctx context.Context, signer string) (uint64, error) {
	c.mu.Lock()
	last, ok := c.nonces[signer]
	c.mu.Unlock()
	if ok {
		return last + 1, nil
	}
	return c.CommittedNextNonce(ctx, signer)
}

// CommittedNextNonce is the nonce after the last one the node's committed
// state shows for signer, ignoring the client's cache.
func (c *Client) CommittedNextNonce(ctx context.Context, signer string) (uint64, error) {
	res, err := c.QueryState(ctx, &pb.QueryStateRequest{Key: exec.NonceKey(signer)})
	if err != nil {
		return 0, c.callErr("read nonce of "+signer, errors.Unwrap(err))
	}
	return DecodeNonce(signer, res.GetFound(), res.GetValue())
}

// DecodeNonce is the next nonce from the state value of exec.NonceKey.
func DecodeNonce(signer string, found bool, v []byte) (uint64, error) {
	if !found {
		return 1, nil
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("nonce of %s: state value is %d bytes, want 8", signer, len(v))
	}
	return binary.BigEndian.Uint64(v) + 1, nil
}

// reserveNonce takes signer's next nonce (NextNonce) for a tx about to
// be signed, so that concurrent submissions of one signer take distinct
// ones.
func (c *Client) reserveNonce(ctx context.Context, signer string) (uint64, error) {
	c.mu.Lock()
	if last, ok := c.nonces[signer]; ok {
		c.nonces[signer] = last + 1
		c.mu.Unlock()
		return last + 1, nil
	}
	c.mu.Unlock()
	n, err := c.CommittedNextNonce(ctx, signer)
	if err != nil {
		return 0, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if last, ok := c.nonces[signer]; ok && last >= n {
		n = last + 1 // another submission reserved meanwhile
	}
	c.setNonceLocked(signer, n)
	return n, nil
}

// releaseNonce gives back n, reserved for a tx not admitted: reused
// next if no later one was reserved, else the signer's nonce is read from
// the node again (a gap at n holds the later txs in the node's queue until
// a tx of nonce n fills it).
func (c *Client) releaseNonce(signer string, n uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if last, ok := c.nonces[signer]; ok && last == n {
		c.nonces[signer] = n - 1
		return
	}
	delete(c.nonces, signer)
}

func (c *Client) setNonceLocked(signer string, n uint64) {
	if _, ok := c.nonces[signer]; !ok && len(c.nonces) >= maxCachedSigners {
		clear(c.nonces) // bounded: the next use of each reads the node again
	}
	c.nonces[signer] = n
}

func (c *Client) usedNonce(signer string, n uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if last, ok := c.nonces[signer]; !ok || n > last {
		c.setNonceLocked(signer, n)
	}
}

func (c *Client) forgetNonce(signer string) {
	c.mu.Lock()
	delete(c.nonces, signer)
	c.mu.Unlock()
}

// maxCachedSigners bounds the nonce cache.
const maxCachedSigners = 4096

// BatchResult is the outcome of one tx of SubmitBatch: Err is the node's
// refusal of it (a *connect.Error with its code), else Receipt says what
// happened.
type BatchResult struct {
	Receipt *Receipt
	Err     error
}

// MaxBatch is the most txs SubmitBatch sends in one request (the node's
// bound).
const MaxBatch = 1024

// SubmitBatch signs bodies for s with consecutive nonces and submits them
// in one SubmitTxs request, returning one result per body. Protected
// records cannot go in a batch (SubmitTxs carries no payloads). After a
// refusal, the cache forgets the signer's nonce: the next Submit reads it
// from the node.
func (c *Client) SubmitBatch(ctx context.Context, s *Signer, bodies []*pb.TxBody, o SubmitOptions) ([]BatchResult, error) {
	if len(bodies) == 0 || len(bodies) > MaxBatch {
		return nil, fmt.Errorf("submit batch: %d txs, want 1 to %d", len(bodies), MaxBatch)
	}
	stxs := make([]*SignedTx, len(bodies))
	raws := make([][]byte, len(bodies))
	for i, b := range bodies {
		bo := o
		if i > 0 {
			bo.Nonce = stxs[i-1].Body.GetNonce() + 1
		}
		stx, err := c.Prepare(ctx, s, b, bo)
		if err == nil && len(stx.Payloads) > 0 {
			err = fmt.Errorf("a protected record's content travels beside its tx, which SubmitTxs does not carry: use Submit")
			if i == 0 {
				stxs[0] = stx
			}
		}
		if err != nil {
			if o.Nonce == 0 && stxs[0] != nil {
				c.releaseNonce(s.ID, stxs[0].Body.GetNonce()) // reserved by Prepare, nothing sent
			}
			return nil, fmt.Errorf("batch tx %d: %w", i, err)
		}
		stxs[i], raws[i] = stx, stx.Raw
	}
	// The batch's nonces are taken: a Submit of the same signer meanwhile
	// goes after them.
	c.usedNonce(s.ID, stxs[len(stxs)-1].Body.GetNonce())
	req := &pb.SubmitTxsRequest{Txs: raws}
	var extra time.Duration
	if o.Wait {
		wt := o.WaitTimeout
		if wt <= 0 {
			wt = DefaultWaitTimeout
		}
		req.WaitForCommit, req.WaitTimeoutMs, extra = true, uint64(wt.Milliseconds()), wt
	}
	cctx, cancel := c.ctx(ctx, extra)
	defer cancel()
	res, err := c.rpc.SubmitTxs(cctx, connect.NewRequest(req))
	if err != nil {
		c.forgetNonce(s.ID) // none admitted, or unknown: read the nonce again
		return nil, c.callErr("submit batch", err)
	}
	if got := len(res.Msg.GetResults()); got != len(stxs) {
		return nil, fmt.Errorf("submit batch: the node answered %d results for %d txs", got, len(stxs))
	}
	out := make([]BatchResult, len(stxs))
	for i, r := range res.Msg.GetResults() {
		b := stxs[i].Body
		if r.GetCode() != "" {
			var code connect.Code
			if err := code.UnmarshalText([]byte(r.GetCode())); err != nil {
				code = connect.CodeUnknown
			}
			out[i].Err = connect.NewError(code, errors.New(r.GetMessage()))
			c.forgetNonce(b.GetSigner())
			continue
		}
		c.usedNonce(b.GetSigner(), b.GetNonce())
		out[i].Receipt = &Receipt{
			TxHash: stxs[i].Hash, ChainID: b.GetChainId(), Signer: b.GetSigner(), Nonce: b.GetNonce(), Action: ActionName(b),
			NodeTxHash: r.GetTxHash(), Waited: o.Wait, Committed: r.GetCommitted(), Height: r.GetHeight(), Result: r.GetResult(),
		}
	}
	return out, nil
}
