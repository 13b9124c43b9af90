package api

import (
	"math/rand/v2"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/ledger/exec"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

func signedTx(t *testing.T, body *pb.TxBody) []byte {
	t.Helper()
	b, err := proto.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := proto.Marshal(&pb.SignedTx{Body: b, Signature: []byte("sig")})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// mayCarryProposal finds every tx whose body decodes to a proposal
// without decoding the others: no false negative, even on mangled bytes.
func TestMayCarryProposal(t *testing.T) {
	proposal := signedTx(t, &pb.TxBody{ChainId: "c", Signer: "a", Nonce: 1, Action: &pb.TxBody_SubmitProposal{SubmitProposal: &pb.SubmitProposal{
		ProposalId: "p", Title: "t", VotingEndHeight: 9,
		Change: &pb.SubmitProposal_RemoveDepartment{RemoveDepartment: &pb.RemoveDepartment{DepartmentId: "d3"}},
	}}})
	vote := signedTx(t, &pb.TxBody{ChainId: "c", Signer: "a", Nonce: 1, Action: &pb.TxBody_VoteProposal{VoteProposal: &pb.VoteProposal{ProposalId: "p", Approve: true}}})
	for _, tc := range []struct {
		name string
		raw  []byte
		want bool
	}{
		{"proposal", proposal, true},
		{"vote", vote, false},
		{"empty", nil, false},
		{"garbage", []byte{0xff, 0xff, 0xff}, false},
		{"truncated proposal", proposal[:len(proposal)/2], false},
	} {
		if got := mayCarryProposal(tc.raw); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	rng := rand.New(rand.NewPCG(1, 17))
	for i := range 20000 {
		raw := append([]byte(nil), proposal...)
		if i%2 == 1 {
			raw = append([]byte(nil), vote...)
		}
		for range 1 + rng.IntN(3) {
			raw[rng.IntN(len(raw))] = byte(rng.Uint32())
		}
		if _, body, err := exec.DecodeTx(raw); err == nil && body.GetSubmitProposal() != nil && !mayCarryProposal(raw) {
			t.Fatalf("missed a proposal in %x", raw)
		}
	}
}
