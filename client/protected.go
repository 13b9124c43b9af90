package client

// Protected records (docs/ARCHITECTURE.md §5, "Erasing personal data"): the
// content of a record of a PROTECTED type never goes on chain. The client
// makes a fresh salt, puts the payload commitment
// the chain suite's PayloadCommitment(salt, content) in the tx as its content_hash,
// and sends the payload (salt and content) beside the signed tx in
// SubmitTxRequest.payloads, for the node to keep beside the chain. Public
// types keep their content in the tx.

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/ledger/exec"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// StateMsg reads the committed value at key into m; false when absent.
func (c *Client) StateMsg(ctx context.Context, what string, key []byte, m proto.Message) (bool, error) {
	res, err := c.QueryState(ctx, &pb.QueryStateRequest{Key: key})
	if err != nil {
		return false, c.callErr("read "+what, errors.Unwrap(err))
	}
	if !res.GetFound() {
		return false, nil
	}
	if err := proto.Unmarshal(res.GetValue(), m); err != nil {
		return false, fmt.Errorf("read %s: the node returned a value that does not decode: %w", what, err)
	}
	return true, nil
}

// RecordType reads a record type from committed state (nil when the chain
// has none of that id).
func (c *Client) RecordType(ctx context.Context, id string) (*pb.RecordType, error) {
	rt := &pb.RecordType{}
	found, err := c.StateMsg(ctx, "record type "+id, exec.RecordTypeKey(id), rt)
	if err != nil || !found {
		return nil, err
	}
	return rt, nil
}

// IsProtected says whether a record type keeps its content beside the
// chain.
func IsProtected(rt *pb.RecordType) bool {
	return rt.GetVisibility() == pb.ContentVisibility_CONTENT_VISIBILITY_PROTECTED
}

// ErrProtectedContent: a protected record's tx names a content hash, or
// no content: the client computes the commitment from the content itself.
var ErrProtectedContent = errors.New("record type is protected")

// ProtectRecordContent, for a CreateRecord or AmendRecord of a protected
// type, moves the content out of the action into a payload and puts the
// payload's commitment in content_hash; it returns the payloads to send
// beside the tx (none for other actions and public types).
//
// Content goes in a tx only when committed state shows its type public: a
// block is kept for good, so content whose type the client cannot read (an
// unknown type, a record whose creation is not committed yet) is not sent
// at all. A tx with only a content hash is left to the node to judge.
func (c *Client) ProtectRecordContent(ctx context.Context, body *pb.TxBody) ([]*pb.Payload, error) {
	var typeID string
	var content, hash *[]byte
	switch a := body.GetAction().(type) {
	case *pb.TxBody_CreateRecord:
		typeID, content, hash = a.CreateRecord.GetRecordType(), &a.CreateRecord.Content, &a.CreateRecord.ContentHash
	case *pb.TxBody_AmendRecord:
		rec := &pb.Record{}
		id := a.AmendRecord.GetRecordId()
		found, err := c.StateMsg(ctx, "record "+id, exec.RecordKey(id), rec)
		if err != nil {
			return nil, err
		}
		if !found {
			if len(a.AmendRecord.GetContent()) == 0 {
				return nil, nil
			}
			return nil, fmt.Errorf("record %q is not in the node's committed state (unknown, or its creation not committed yet): "+
				"its type says whether its content may go in the tx or must travel beside it; retry once it is committed", id)
		}
		if rec.GetErasedHeight() > 0 {
			return nil, fmt.Errorf("record %q: %s: it cannot be amended", id, erasedText(rec))
		}
		typeID, content, hash = rec.GetRecordType(), &a.AmendRecord.Content, &a.AmendRecord.ContentHash
	default:
		return nil, nil
	}
	rt, err := c.RecordType(ctx, typeID)
	if err != nil {
		return nil, err
	}
	if rt == nil {
		if len(*content) == 0 {
			return nil, nil
		}
		return nil, fmt.Errorf("record type %s is not on the chain (node %s): its content is not sent", typeID, c.url)
	}
	if !IsProtected(rt) {
		return nil, nil
	}
	suite, err := c.Suite(ctx)
	if err != nil {
		return nil, err
	}
	return protectContent(suite, rt, content, hash)
}

// protectContent replaces *content by the commitment of a fresh payload in
// *hash and returns that payload.
func protectContent(suite crypto.Suite, rt *pb.RecordType, content, hash *[]byte) ([]*pb.Payload, error) {
	if len(*hash) > 0 {
		return nil, fmt.Errorf("%w: record type %s keeps its content beside the chain, and the client computes its commitment: give the content, not a content hash", ErrProtectedContent, rt.GetId())
	}
	if len(*content) == 0 {
		return nil, fmt.Errorf("%w: record type %s keeps its content beside the chain: give the content", ErrProtectedContent, rt.GetId())
	}
	if limit := rt.GetMaxContentBytes(); limit > 0 && len(*content) > int(limit) {
		return nil, fmt.Errorf("the content is %d bytes; record type %s takes at most %d", len(*content), rt.GetId(), limit)
	}
	p, err := NewPayload(*content)
	if err != nil {
		return nil, err
	}
	*hash = suite.PayloadCommitment(p.GetSalt(), p.GetContent())
	*content = nil
	return []*pb.Payload{p}, nil
}

// NewPayload wraps content with a fresh salt.
func NewPayload(content []byte) (*pb.Payload, error) {
	if len(content) == 0 {
		return nil, errors.New("empty protected content")
	}
	salt, err := crypto.NewPayloadSalt()
	if err != nil {
		return nil, err
	}
	return &pb.Payload{Salt: salt, Content: content}, nil
}

// erasedText says when and why a record's content was erased.
func erasedText(rec *pb.Record) string {
	return fmt.Sprintf("content erased at height %d (%s)", rec.GetErasedHeight(), rec.GetEraseReason())
}
