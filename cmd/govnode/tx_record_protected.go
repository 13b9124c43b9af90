package main

// Protected records (ARCHITECTURE.md §5, "Erasing personal data"): the
// content of a record of a PROTECTED type never goes on chain. The SDK's
// Prepare (client.ProtectRecordContent) makes a fresh salt, puts the
// payload commitment in the tx as its content_hash and sends the payload
// beside the signed tx; here are the CLI's reads of committed state and
// its checks of an erasure before anything is signed.

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/client"
	"github.com/govnode/govnode/ledger/exec"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// stateMsg reads the committed value at key into m; false when absent.
func (n *nodeConn) stateMsg(ctx context.Context, what string, key []byte, m proto.Message) (bool, error) {
	found, err := n.sdk.StateMsg(ctx, what, key, m)
	if ce := (*client.CallError)(nil); errors.As(err, &ce) {
		return false, rpcError(ce.Op, n, err)
	}
	return found, err
}

// recordType is the SDK's RecordType, a call failure in the CLI's words.
func (n *nodeConn) recordType(ctx context.Context, id string) (*pb.RecordType, error) {
	rt, err := n.sdk.RecordType(ctx, id)
	if ce := (*client.CallError)(nil); errors.As(err, &ce) {
		return nil, rpcError(ce.Op, n, err)
	}
	return rt, err
}

// checkErasable is the txPrepare of `tx record erase`: it refuses a record
// the chain shows as not protected or already erased (the node would
// refuse it too; this names the reason without spending a nonce). A
// record the chain does not know is left to the node.
func checkErasable(ctx context.Context, n *nodeConn, body *pb.TxBody) error {
	id := body.GetEraseRecordContent().GetRecordId()
	rec := &pb.Record{}
	found, err := n.stateMsg(ctx, "record "+id, exec.RecordKey(id), rec)
	if err != nil || !found {
		return err
	}
	if h := rec.GetErasedHeight(); h > 0 {
		return fmt.Errorf("record %s: %s", termText(id), erasedText(rec))
	}
	rt, err := n.recordType(ctx, rec.GetRecordType())
	if err != nil {
		return err
	}
	if rt != nil && !client.IsProtected(rt) {
		return fmt.Errorf("record %s is of type %s, which is not protected: only the content of a protected record is kept beside the chain and can be erased",
			termText(id), termText(rec.GetRecordType()))
	}
	return nil
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
