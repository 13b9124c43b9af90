package node_test

import (
	"bytes"
	"strings"
	"testing"

	"connectrpc.com/connect"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/node/nodetest"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// TestSubmitRefusesContentItsTypeRefuses: record content its type refuses
// is refused by SubmitTx (CheckTx, before the mempool) with the limit in
// the message, and never reaches a block: before, such a tx was committed
// as failed, and its plaintext stayed in the chain for good.
func TestSubmitRefusesContentItsTypeRefuses(t *testing.T) {
	c, n, _ := hostileChain(t)
	off := c.Official
	secret := "plaintext that must not reach a block"
	cases := []struct {
		name  string
		body  *pb.TxBody
		codes []connect.Code
		want  string
	}{
		{"create over the type's limit", nodetest.CreateRecord("big", nodetest.BusinessLicense, "citizen0", []byte(secret+strings.Repeat("c", 2048))),
			[]connect.Code{connect.CodeResourceExhausted}, "record type business_license allows 2048"},
		{"amend over the type's limit", nodetest.AmendRecord("lic-1", 1, []byte(secret+strings.Repeat("c", 2048)), "more"),
			[]connect.Code{connect.CodeResourceExhausted}, "record type business_license allows 2048"},
		{"content for an unknown type", nodetest.CreateRecord("unk", "no_such_type", "citizen0", []byte(secret)),
			[]connect.Code{connect.CodeNotFound, connect.CodeInvalidArgument}, "record type no_such_type not found"},
	}
	before := n.Status(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := tc.body
			body.ChainId, body.Signer, body.Nonce = c.ChainID, off.ID, off.NextNonce()
			tx := nodetest.Sign(off.Key, body)
			_, err := n.Client.SubmitTx(ctxOf(t), req(&pb.SubmitTxRequest{Tx: tx, WaitForCommit: true, WaitTimeoutMs: 2000}))
			if !containsCode(tc.codes, connect.CodeOf(err)) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("SubmitTx: %v, want one of %v naming %q", err, tc.codes, tc.want)
			}
			unchanged(t, n, before)
			if _, err := n.Client.GetTx(ctxOf(t), req(&pb.GetTxRequest{TxHash: crypto.Ed25519SHA256.Hash(tx)})); connect.CodeOf(err) != connect.CodeNotFound {
				t.Fatalf("GetTx of the refused tx: %v, want not found", err)
			}
		})
	}
	// The next tx of the signer, at the nonce the refused ones did not
	// take, commits, and its block holds no trace of them.
	r := n.CommitOK(t, off.Tx(nodetest.CreateRecord("small", nodetest.BusinessLicense, "citizen0", []byte("ok"))))
	blk, err := n.Client.GetBlock(ctxOf(t), req(&pb.GetBlockRequest{Height: r.GetHeight()}))
	if err != nil {
		t.Fatal(err)
	}
	for _, tx := range blk.Msg.GetBlock().GetTxs() {
		if bytes.Contains(tx, []byte(secret)) {
			t.Fatalf("block %d holds refused content", r.GetHeight())
		}
	}
}

// TestAPIAndTxsShareTheIDRule: the API's queries and SubmitTx apply the
// one id rule (exec.ValidID): an id differing from an existing one only in
// case, or holding an escape or a bidi override, is an invalid argument
// naming the character, never another object's data.
func TestAPIAndTxsShareTheIDRule(t *testing.T) {
	c, n, _ := hostileChain(t)
	for _, tc := range []struct{ id, want string }{
		{"Citizen0", "uppercase 'C' at byte 0"},
		{"citizen0\x1b[31m", `character '\x1b' at byte 8`},
		{"citizen\u202e0", `character '\u202e' at byte 7`},
	} {
		_, err := n.Client.QueryIdentity(ctxOf(t), req(&pb.QueryIdentityRequest{IdentityId: tc.id}))
		if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("QueryIdentity(%q): %v, want invalid_argument naming %s", tc.id, err, tc.want)
		}
	}
	off := c.Official
	body := &pb.TxBody{ChainId: c.ChainID, Signer: off.ID, Nonce: off.NextNonce(), Action: &pb.TxBody_RegisterSubject{RegisterSubject: &pb.RegisterSubject{
		IdentityId: "Citizen0", Kind: pb.IdentityKind_IDENTITY_KIND_CITIZEN, DisplayName: "Citizen \u202e0", PublicKey: off.Key.Public(),
	}}}
	_, err := n.Client.SubmitTx(ctxOf(t), req(&pb.SubmitTxRequest{Tx: nodetest.Sign(off.Key, body)}))
	if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "uppercase 'C' at byte 0") {
		t.Fatalf("SubmitTx of identity Citizen0: %v", err)
	}
}
