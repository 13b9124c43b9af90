package client

// Queries (docs/ARCHITECTURE.md §6, "API"). The plain calls return the
// node's answer as it is. The Verified calls ask for a proof and check it
// against an Anchor before returning anything (proof.go): the object
// returned is exactly the proven value, at the key the chain keeps it
// under (exec's key layout), in a header certified by a quorum of the
// validator set reached from the anchor's genesis.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/lightclient"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// call runs one unary call bounded by the client's timeout.
func call[Req, Res any](c *Client, ctx context.Context, op string, f func(context.Context, *connect.Request[Req]) (*connect.Response[Res], error), req *Req) (*Res, error) {
	ctx, cancel := c.ctx(ctx, 0)
	defer cancel()
	res, err := f(ctx, connect.NewRequest(req))
	if err != nil {
		return nil, c.callErr(op, err)
	}
	return res.Msg, nil
}

// GetTx reads a transaction by hash (pending or committed). The answer's
// tx must hash to txHash.
func (c *Client) GetTx(ctx context.Context, txHash []byte) (*pb.GetTxResponse, error) {
	if len(txHash) != crypto.HashSize {
		return nil, fmt.Errorf("tx hash: %d bytes, want %d", len(txHash), crypto.HashSize)
	}
	m, err := call(c, ctx, fmt.Sprintf("get tx %x", txHash), c.rpc.GetTx, &pb.GetTxRequest{TxHash: txHash})
	if err != nil {
		return nil, err
	}
	suite, err := c.Suite(ctx)
	if err != nil {
		return nil, err
	}
	if got := suite.Hash(m.GetTx()); len(m.GetTx()) > 0 && !bytes.Equal(got, txHash) {
		return nil, fmt.Errorf("get tx %x: the node returned a transaction whose hash is %x", txHash, got)
	}
	return m, nil
}

// DecodeTx decodes a serialized SignedTx's body (no signature check).
func DecodeTx(raw []byte) (*pb.TxBody, error) {
	stx := &pb.SignedTx{}
	if err := proto.Unmarshal(raw, stx); err != nil {
		return nil, err
	}
	body := &pb.TxBody{}
	if err := proto.Unmarshal(stx.GetBody(), body); err != nil {
		return nil, err
	}
	return body, nil
}

// GetBlock reads the committed block at height (0 with latest: the
// newest). The hash the node names must be its header's. (The block is not
// proven: its commit certificate is checked by a light client against a
// validator set; VerifyStateProof does it for state.)
func (c *Client) GetBlock(ctx context.Context, height uint64, latest bool) (*pb.GetBlockResponse, error) {
	op := fmt.Sprintf("get block %d", height)
	if latest {
		op = "get block latest"
	}
	m, err := call(c, ctx, op, c.rpc.GetBlock, &pb.GetBlockRequest{Height: height, Latest: latest})
	if err != nil {
		return nil, err
	}
	suite, err := c.Suite(ctx)
	if err != nil {
		return nil, err
	}
	if raw := m.GetBlock().GetHeader(); len(raw) > 0 && len(m.GetHash()) > 0 && !bytes.Equal(m.GetHash(), suite.Hash(raw)) {
		return nil, fmt.Errorf("the node says block %d has hash %x, its header hashes to %x", m.GetHeight(), m.GetHash(), suite.Hash(raw))
	}
	return m, nil
}

// CheckAnsweredHeight checks that an answer to a query at height asked
// (0: the newest, nothing to check) is of that height, and that its proof
// p (nil: none asked) is of the state at that height.
func CheckAnsweredHeight(asked, answered uint64, p *pb.StateProof) error {
	return checkHeight(asked, answered, p)
}

// QueryState reads one state key (exec's key layout) as it is now, or as
// it was after block req.Height; with req.Prove the answer carries a proof
// (VerifiedState checks it).
func (c *Client) QueryState(ctx context.Context, req *pb.QueryStateRequest) (*pb.QueryStateResponse, error) {
	return call(c, ctx, "query state", c.rpc.QueryState, req)
}

// QueryIdentity, QueryRecord, QueryAccessLog, QueryContract and
// QueryProposal are the API's calls as they are.
func (c *Client) QueryIdentity(ctx context.Context, req *pb.QueryIdentityRequest) (*pb.QueryIdentityResponse, error) {
	return call(c, ctx, "query identity "+req.GetIdentityId(), c.rpc.QueryIdentity, req)
}

func (c *Client) QueryRecord(ctx context.Context, req *pb.QueryRecordRequest) (*pb.QueryRecordResponse, error) {
	return call(c, ctx, "query record "+req.GetRecordId(), c.rpc.QueryRecord, req)
}

func (c *Client) QueryAccessLog(ctx context.Context, req *pb.QueryAccessLogRequest) (*pb.QueryAccessLogResponse, error) {
	return call(c, ctx, "query access log", c.rpc.QueryAccessLog, req)
}

func (c *Client) QueryContract(ctx context.Context, req *pb.QueryContractRequest) (*pb.QueryContractResponse, error) {
	return call(c, ctx, "query contract "+req.GetContractId(), c.rpc.QueryContract, req)
}

func (c *Client) QueryProposal(ctx context.Context, req *pb.QueryProposalRequest) (*pb.QueryProposalResponse, error) {
	return call(c, ctx, "query proposal "+req.GetProposalId(), c.rpc.QueryProposal, req)
}

// ErrNoAnchor: a Verified call without an Anchor.
var ErrNoAnchor = errors.New("no trust anchor: give the chain's genesis (NewAnchor, LoadAnchor, AnchorFromGenesis)")

// checkHeight checks that an answer to a height asked is of that height,
// and that its proof is of the state at that height.
func checkHeight(asked, answered uint64, p *pb.StateProof) error {
	if asked == 0 {
		return nil
	}
	if answered != asked {
		return fmt.Errorf("asked for height %d, the node answered at height %d", asked, answered)
	}
	if p != nil && p.GetStateHeight() != asked {
		return proofErr("the proof is of the state at height %d, not the asked height %d", p.GetStateHeight(), asked)
	}
	return nil
}

// verifyLatest runs query and checks its answer. The proof of an answer
// at the newest height is of the newest state a committed header attests,
// which trails the newest executed state by a block or two until the
// leader finalises it (docs/ARCHITECTURE.md §4, "Deadlines drive blocks"):
// an object written in the last blocks is not in the proven state yet. So
// when the check fails and the proof is of an older state than the answer,
// the query is asked again (every 25 ms, within the call's deadline) until
// the proof catches up. Only a proof of another value than the answer's
// is asked again: any other failure is final. asked is the height asked (0: the newest).
func verifyLatest[R any](c *Client, ctx context.Context, asked uint64, query func(context.Context) (R, error),
	parts func(R) (answered uint64, p *pb.StateProof), check func(R) (*Proof, error)) (R, *Proof, error) {
	ctx, cancel := c.ctx(ctx, 0)
	defer cancel()
	var zero R
	for {
		m, err := query(ctx)
		if err != nil {
			return zero, nil, err
		}
		answered, sp := parts(m)
		if err := checkHeight(asked, answered, sp); err != nil {
			return zero, nil, err
		}
		p, err := check(m)
		if err == nil {
			return m, p, nil
		}
		if asked != 0 || !errors.Is(err, errStale) || sp == nil || sp.GetStateHeight() >= answered {
			return zero, nil, err
		}
		t := time.NewTimer(25 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return zero, nil, fmt.Errorf("%w (the newest attested state, %d, did not reach the answer's height %d in time)", err, sp.GetStateHeight(), answered)
		case <-t.C:
		}
	}
}

// VerifiedState reads key with a proof (height as QueryState) and checks
// it against a: the answer's found/value is what the chain holds.
func (c *Client) VerifiedState(ctx context.Context, a *Anchor, key []byte, height uint64) (*pb.QueryStateResponse, *Proof, error) {
	if a == nil {
		return nil, nil, ErrNoAnchor
	}
	return verifyLatest(c, ctx, height,
		func(ctx context.Context) (*pb.QueryStateResponse, error) {
			return call(c, ctx, "query state", c.rpc.QueryState, &pb.QueryStateRequest{Key: key, Height: height, Prove: true})
		},
		func(m *pb.QueryStateResponse) (uint64, *pb.StateProof) { return m.GetHeight(), m.GetProof() },
		func(m *pb.QueryStateResponse) (*Proof, error) {
			if p := m.GetProof(); p != nil && !bytes.Equal(p.GetValue(), m.GetValue()) {
				return nil, fmt.Errorf("%w: the proof is of another value than the answer's%w", ErrProof, errStale)
			}
			var value []byte
			if m.GetFound() {
				if value = m.GetValue(); value == nil {
					value = []byte{}
				}
			}
			return VerifyStateProof(m.GetProof(), key, value, a.ChainID, a.Suite, a)
		})
}

// VerifiedStateMsg is VerifiedState decoding the value into m: a tender
// (exec.TenderKey), a budget (exec.BudgetKey), an account
// (exec.AccountKey), evidence (exec.EvidenceKey), any object the chain
// keeps. found is false, with a proof of absence, when the key is absent.
func (c *Client) VerifiedStateMsg(ctx context.Context, a *Anchor, key []byte, m proto.Message) (found bool, p *Proof, err error) {
	res, p, err := c.VerifiedState(ctx, a, key, 0)
	if err != nil || !res.GetFound() {
		return false, p, err
	}
	if err := proto.Unmarshal(res.GetValue(), m); err != nil {
		return false, nil, fmt.Errorf("the proven value does not decode as %s: %w", m.ProtoReflect().Descriptor().Name(), err)
	}
	return true, p, nil
}

// VerifiedIdentity reads identity id (as it was at height, 0: now) and
// checks its proof against a.
func (c *Client) VerifiedIdentity(ctx context.Context, a *Anchor, id string, height uint64) (*pb.QueryIdentityResponse, *Proof, error) {
	if a == nil {
		return nil, nil, ErrNoAnchor
	}
	return verifyLatest(c, ctx, height,
		func(ctx context.Context) (*pb.QueryIdentityResponse, error) {
			return c.QueryIdentity(ctx, &pb.QueryIdentityRequest{IdentityId: id, Height: height, Prove: true})
		},
		func(m *pb.QueryIdentityResponse) (uint64, *pb.StateProof) { return m.GetHeight(), m.GetProof() },
		func(m *pb.QueryIdentityResponse) (*Proof, error) {
			return VerifyObject(m.GetProof(), exec.IdentityKey(id), m.GetIdentity(), a.ChainID, a.Suite, a)
		})
}

// VerifiedRecord reads a record with the request's options (prove is set
// here) and checks the record's proof against a. The versions and contents
// of the answer are not covered by that proof: VerifyRecordBundle proves a
// record's whole history.
func (c *Client) VerifiedRecord(ctx context.Context, a *Anchor, req *pb.QueryRecordRequest) (*pb.QueryRecordResponse, *Proof, error) {
	if a == nil {
		return nil, nil, ErrNoAnchor
	}
	req = proto.Clone(req).(*pb.QueryRecordRequest)
	req.Prove = true
	return verifyLatest(c, ctx, req.GetHeight(),
		func(ctx context.Context) (*pb.QueryRecordResponse, error) { return c.QueryRecord(ctx, req) },
		func(m *pb.QueryRecordResponse) (uint64, *pb.StateProof) { return m.GetHeight(), m.GetProof() },
		func(m *pb.QueryRecordResponse) (*Proof, error) {
			return VerifyObject(m.GetProof(), exec.RecordKey(req.GetRecordId()), m.GetRecord(), a.ChainID, a.Suite, a)
		})
}

// VerifiedContract reads contract id and checks its proof against a.
func (c *Client) VerifiedContract(ctx context.Context, a *Anchor, id string) (*pb.QueryContractResponse, *Proof, error) {
	if a == nil {
		return nil, nil, ErrNoAnchor
	}
	return verifyLatest(c, ctx, 0,
		func(ctx context.Context) (*pb.QueryContractResponse, error) {
			return c.QueryContract(ctx, &pb.QueryContractRequest{ContractId: id, Prove: true})
		},
		func(m *pb.QueryContractResponse) (uint64, *pb.StateProof) { return m.GetHeight(), m.GetProof() },
		func(m *pb.QueryContractResponse) (*Proof, error) {
			return VerifyObject(m.GetProof(), exec.ContractKey(id), m.GetContract(), a.ChainID, a.Suite, a)
		})
}

// VerifiedProposal reads governance proposal id and checks its proof
// against a.
func (c *Client) VerifiedProposal(ctx context.Context, a *Anchor, id string) (*pb.QueryProposalResponse, *Proof, error) {
	if a == nil {
		return nil, nil, ErrNoAnchor
	}
	return verifyLatest(c, ctx, 0,
		func(ctx context.Context) (*pb.QueryProposalResponse, error) {
			return c.QueryProposal(ctx, &pb.QueryProposalRequest{ProposalId: id, Prove: true})
		},
		func(m *pb.QueryProposalResponse) (uint64, *pb.StateProof) { return m.GetHeight(), m.GetProof() },
		func(m *pb.QueryProposalResponse) (*Proof, error) {
			return VerifyObject(m.GetProof(), exec.ProposalKey(id), m.GetProposal(), a.ChainID, a.Suite, a)
		})
}

// VerifiedAccessLog reads a page of an access log (prove is set here) and
// checks every entry's proof against a; any failure fails the whole page.
func (c *Client) VerifiedAccessLog(ctx context.Context, a *Anchor, req *pb.QueryAccessLogRequest) (*pb.QueryAccessLogResponse, []*Proof, error) {
	if a == nil {
		return nil, nil, ErrNoAnchor
	}
	req = proto.Clone(req).(*pb.QueryAccessLogRequest)
	req.Prove = true
	var proofs []*Proof
	m, _, err := verifyLatest(c, ctx, 0,
		func(ctx context.Context) (*pb.QueryAccessLogResponse, error) { return c.QueryAccessLog(ctx, req) },
		func(m *pb.QueryAccessLogResponse) (uint64, *pb.StateProof) {
			if len(m.GetProofs()) == 0 {
				return m.GetHeight(), nil
			}
			return m.GetHeight(), m.GetProofs()[0]
		},
		func(m *pb.QueryAccessLogResponse) (*Proof, error) {
			ps, err := VerifyAccessEntries(m, a.ChainID, a.Suite, a)
			proofs = ps
			return nil, err
		})
	if err != nil {
		return nil, nil, err
	}
	return m, proofs, nil
}

// VerifyAccessEntries checks an access-log answer's proofs, one per entry
// in order: the proven value at exec.AccessEntryKey(record, seq) is the
// entry returned (anchor nil: as VerifyStateProof without one).
func VerifyAccessEntries(m *pb.QueryAccessLogResponse, chainID string, suite crypto.Suite, a *Anchor) ([]*Proof, error) {
	entries, proofs := m.GetEntries(), m.GetProofs()
	if len(proofs) != len(entries) {
		return nil, proofErr("%d entries but %d proofs", len(entries), len(proofs))
	}
	out := make([]*Proof, len(entries))
	for i, e := range entries {
		p, err := VerifyObject(proofs[i], exec.AccessEntryKey(e.GetRecordId(), e.GetSeq()), e, chainID, suite, a)
		if err != nil {
			return nil, fmt.Errorf("entry %d (record %s, seq %d): %w", i, e.GetRecordId(), e.GetSeq(), err)
		}
		out[i] = p
	}
	return out, nil
}

// GetRecordBundle reads record id's proof bundle (its versions and access
// log with their proofs at height; 0: the newest attested state), as the
// bytes `govnode verify` checks.
func (c *Client) GetRecordBundle(ctx context.Context, id string, height uint64) ([]byte, error) {
	m, err := call(c, ctx, "get record bundle "+id, c.rpc.GetRecordBundle, &pb.GetRecordBundleRequest{RecordId: id, Height: height})
	if err != nil {
		return nil, err
	}
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(m.GetBundle())
	if err != nil {
		return nil, fmt.Errorf("encode bundle: %w", err)
	}
	return raw, nil
}

// VerifyRecordBundle reads record id's bundle and verifies it offline
// against the chain's genesis hash, as the bundle of id at height
// (lightclient.VerifyBundleOf; height 0: any). The report
// is returned with the error when verification fails; err then wraps
// lightclient.ErrNotVerified.
func (c *Client) VerifyRecordBundle(ctx context.Context, id string, height uint64, genesisHash []byte) ([]byte, *lightclient.Report, error) {
	raw, err := c.GetRecordBundle(ctx, id, height)
	if err != nil {
		return nil, nil, err
	}
	// Of the record and height asked for: a node could answer another
	// record's (or height's) bundle, which would verify on its own.
	rep, err := lightclient.VerifyBundleOf(raw, genesisHash, id, height)
	return raw, rep, err
}
