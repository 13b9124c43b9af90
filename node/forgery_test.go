package node_test

import (
	"bytes"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/node/nodetest"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// The forgery the hostile review found: an official registered with a
// small-order key (all zeros, or the identity point), then txs "signed" by
// 64 zero bytes, which ZIP-215's cofactored equation accepts for such a
// key. Every way such a key enters is refused at submission and changes
// nothing, and a zero signature for a real signer is refused too.
func TestSmallOrderKeysRefused(t *testing.T) {
	c, n, _ := hostileChain(t)
	zero := &pb.PublicKey{Scheme: pb.KeyScheme_KEY_SCHEME_ED25519, Key: make([]byte, 32)}
	ident := &pb.PublicKey{Scheme: pb.KeyScheme_KEY_SCHEME_ED25519, Key: append([]byte{1}, make([]byte, 31)...)}
	cit := c.Citizens[0]
	type tc struct {
		name string
		tx   func() []byte
	}
	var cases []tc
	for _, k := range []*pb.PublicKey{zero, ident} {
		kname := "zero key"
		if k == ident {
			kname = "identity key"
		}
		cases = append(cases,
			tc{"register official with " + kname, func() []byte {
				return c.Admin.Tx(&pb.TxBody{Action: &pb.TxBody_RegisterOfficial{RegisterOfficial: &pb.RegisterOfficial{
					IdentityId: "forger", DepartmentId: nodetest.Dept, DisplayName: "Forger",
					Roles: []pb.Role{pb.Role_ROLE_ISSUER}, PublicKey: k, IssuerRecordTypes: []string{nodetest.BusinessLicense},
				}}})
			}},
			tc{"register citizen with " + kname, func() []byte {
				return c.Official.Tx(&pb.TxBody{Action: &pb.TxBody_RegisterSubject{RegisterSubject: &pb.RegisterSubject{
					IdentityId: "forged-citizen", Kind: pb.IdentityKind_IDENTITY_KIND_CITIZEN, DisplayName: "Forged", PublicKey: k,
				}}})
			}},
			tc{"rotate to " + kname, func() []byte {
				return cit.Tx(&pb.TxBody{Action: &pb.TxBody_RotateKey{RotateKey: &pb.RotateKey{IdentityId: cit.ID, NewPublicKey: k}}})
			}},
		)
	}
	before := n.Status(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tx := tc.tx()
			_, err := n.Client.SubmitTx(ctxOf(t), req(&pb.SubmitTxRequest{Tx: tx, WaitForCommit: true, WaitTimeoutMs: 2000}))
			if connect.CodeOf(err) != connect.CodeInvalidArgument || !bytes.Contains([]byte(err.Error()), []byte("small-order")) {
				t.Fatalf("want InvalidArgument naming the small-order key, got %v", err)
			}
			unchanged(t, n, before)
		})
	}
	// The signer's nonces were not used by the refused txs.
	c.Admin.SetLastNonce(c.Admin.NextNonce() - 2)
	c.Official.SetLastNonce(c.Official.NextNonce() - 3)
	cit.SetLastNonce(cit.NextNonce() - 3)

	// A real official's tx with a signature of zeros.
	body, err := proto.MarshalOptions{Deterministic: true}.Marshal(&pb.TxBody{ChainId: c.ChainID, Signer: c.Official.ID, Nonce: c.Official.NextNonce(),
		Action: nodetest.CreateRecord("forged-title", nodetest.BusinessLicense, "citizen0", []byte("x")).Action})
	if err != nil {
		t.Fatal(err)
	}
	forged, _ := proto.Marshal(&pb.SignedTx{Body: body, Signature: make([]byte, 64)})
	_, err = n.Client.SubmitTx(ctxOf(t), req(&pb.SubmitTxRequest{Tx: forged, WaitForCommit: true, WaitTimeoutMs: 2000}))
	nodetest.WantCode(t, err, connect.CodeUnauthenticated)
	unchanged(t, n, before)

	// The accounts still work: the refusals left their nonces alone.
	n.CommitOK(t, c.Official.Tx(nodetest.CreateRecord("after", nodetest.BusinessLicense, "citizen0", []byte("x"))))
}
