package main

// Protected records (ARCHITECTURE.md §5, "Erasing personal data"): the
// content of a record of a PROTECTED type never goes on chain. The CLI
// makes a fresh salt, puts the payload commitment
// crypto.PayloadCommitment(salt, content) in the tx as its content_hash,
// and sends the payload (salt and content) beside the signed tx in
// SubmitTxRequest.payloads, for the node to keep beside the chain. Public
// types keep their content in the tx as before.

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/ledger/exec"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// stateMsg reads the committed value at key into m; false when absent.
func (n *nodeConn) stateMsg(ctx context.Context, what string, key []byte, m proto.Message) (bool, error) {
	res, err := n.client.QueryState(ctx, connect.NewRequest(&pb.QueryStateRequest{Key: key}))
	if err != nil {
		return false, rpcError("read "+what, n, err)
	}
	if !res.Msg.GetFound() {
		return false, nil
	}
	if err := proto.Unmarshal(res.Msg.GetValue(), m); err != nil {
		return false, fmt.Errorf("read %s: the node returned a value that does not decode: %w", what, err)
	}
	return true, nil
}

// recordType reads a record type from committed state (nil when the chain
// has none of that id).
func (n *nodeConn) recordType(ctx context.Context, id string) (*pb.RecordType, error) {
	rt := &pb.RecordType{}
	found, err := n.stateMsg(ctx, "record type "+id, exec.RecordTypeKey(id), rt)
	if err != nil || !found {
		return nil, err
	}
	return rt, nil
}

// isProtected says whether a record type keeps its content beside the
// chain.
func isProtected(rt *pb.RecordType) bool {
	return rt.GetVisibility() == pb.ContentVisibility_CONTENT_VISIBILITY_PROTECTED
}

// protectRecordContent is the txPrepare of `tx record create` and `amend`:
// for a record of a protected type it moves the content out of the action
// into a payload, and puts the payload's commitment in content_hash.
//
// Content goes in a tx only when committed state shows its type public: a
// block is kept for good, so content whose type the CLI cannot read (an
// unknown type, a record whose creation is not committed yet) is not sent
// at all. A tx with only a content hash is left to the node to judge.
func protectRecordContent(ctx context.Context, n *nodeConn, body *pb.TxBody) ([]*pb.Payload, error) {
	var typeID string
	var content, hash *[]byte
	switch a := body.GetAction().(type) {
	case *pb.TxBody_CreateRecord:
		typeID, content, hash = a.CreateRecord.GetRecordType(), &a.CreateRecord.Content, &a.CreateRecord.ContentHash
	case *pb.TxBody_AmendRecord:
		rec := &pb.Record{}
		id := a.AmendRecord.GetRecordId()
		found, err := n.stateMsg(ctx, "record "+id, exec.RecordKey(id), rec)
		if err != nil {
			return nil, err
		}
		if !found {
			if len(a.AmendRecord.GetContent()) == 0 {
				return nil, nil
			}
			return nil, fmt.Errorf("record %s is not in the node's committed state (unknown, or its creation not committed yet): "+
				"the CLI reads its type to know whether its content may go in the tx or must travel beside it; retry once it is committed", termText(id))
		}
		if rec.GetErasedHeight() > 0 {
			return nil, fmt.Errorf("record %s: %s: it cannot be amended", termText(id), erasedText(rec))
		}
		typeID, content, hash = rec.GetRecordType(), &a.AmendRecord.Content, &a.AmendRecord.ContentHash
	default:
		return nil, nil
	}
	rt, err := n.recordType(ctx, typeID)
	if err != nil {
		return nil, err
	}
	if rt == nil {
		if len(*content) == 0 {
			return nil, nil
		}
		return nil, fmt.Errorf("record type %s is not on the chain (node %s): its content is not sent", termText(typeID), n.url)
	}
	if !isProtected(rt) {
		return nil, nil
	}
	return protectContent(rt, content, hash)
}

// protectContent replaces *content by the commitment of a fresh payload in
// *hash and returns that payload.
func protectContent(rt *pb.RecordType, content, hash *[]byte) ([]*pb.Payload, error) {
	if len(*hash) > 0 {
		return nil, fmt.Errorf("record type %s is protected: its content travels beside the chain and the CLI computes its commitment; give --content or --content-file, not --content-hash", rt.GetId())
	}
	if len(*content) == 0 {
		return nil, fmt.Errorf("record type %s is protected: give its content with --content or --content-file", rt.GetId())
	}
	if limit := rt.GetMaxContentBytes(); limit > 0 && len(*content) > int(limit) {
		return nil, fmt.Errorf("the content is %d bytes; record type %s takes at most %d", len(*content), rt.GetId(), limit)
	}
	p, err := newPayload(*content)
	if err != nil {
		return nil, err
	}
	*hash = crypto.PayloadCommitment(p.GetSalt(), p.GetContent())
	*content = nil
	return []*pb.Payload{p}, nil
}

// newPayload wraps content with a fresh salt.
func newPayload(content []byte) (*pb.Payload, error) {
	if len(content) == 0 {
		return nil, errors.New("empty protected content")
	}
	salt, err := crypto.NewPayloadSalt()
	if err != nil {
		return nil, err
	}
	return &pb.Payload{Salt: salt, Content: content}, nil
}

// checkErasable is the txPrepare of `tx record erase`: it refuses, before
// signing, a record the chain shows as not protected or already erased
// (the node would refuse it too; this names the reason without spending a
// nonce). A record the chain does not know is left to the node.
func checkErasable(ctx context.Context, n *nodeConn, body *pb.TxBody) ([]*pb.Payload, error) {
	id := body.GetEraseRecordContent().GetRecordId()
	rec := &pb.Record{}
	found, err := n.stateMsg(ctx, "record "+id, exec.RecordKey(id), rec)
	if err != nil || !found {
		return nil, err
	}
	if h := rec.GetErasedHeight(); h > 0 {
		return nil, fmt.Errorf("record %s: %s", termText(id), erasedText(rec))
	}
	rt, err := n.recordType(ctx, rec.GetRecordType())
	if err != nil {
		return nil, err
	}
	if rt != nil && !isProtected(rt) {
		return nil, fmt.Errorf("record %s is of type %s, which is not protected: only the content of a protected record is kept beside the chain and can be erased",
			termText(id), termText(rec.GetRecordType()))
	}
	return nil, nil
}

// erasedText says when and why a record's content was erased.
func erasedText(rec *pb.Record) string {
	return fmt.Sprintf("content erased at height %d (%s)", rec.GetErasedHeight(), termText(rec.GetEraseReason()))
}

// checkTextFlag checks a free-text flag against the chain's limit for
// reasons and purposes (exec.MaxTextBytes); required ones must not be
// blank.
func checkTextFlag(flag, s string, required bool) error {
	if required && strings.TrimSpace(s) == "" {
		return fmt.Errorf("--%s is required and must not be blank", flag)
	}
	if len(s) > exec.MaxTextBytes {
		return fmt.Errorf("--%s is %d bytes, limit %d", flag, len(s), exec.MaxTextBytes)
	}
	return nil
}
