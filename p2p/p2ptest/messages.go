package p2ptest

import (
	"encoding/binary"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Vote returns a serialized ConsensusMessage carrying a vote by validator
// idx, signed with key.
func Vote(t testing.TB, key crypto.PrivateKey, idx uint32, view, height uint64) []byte {
	t.Helper()
	hash := crypto.Ed25519SHA256.Hash(binary.BigEndian.AppendUint64(nil, height))
	sig, err := key.Sign(crypto.VoteSignBytes(ChainID, view, height, hash))
	if err != nil {
		t.Fatal(err)
	}
	return Marshal(t, &pb.ConsensusMessage{Sender: idx, Msg: &pb.ConsensusMessage_Vote{Vote: &pb.Vote{
		View: view, Height: height, BlockHash: hash, Voter: idx, Signature: sig,
	}}})
}

// Tx returns a serialized SignedTx with a body unique to n. p2p checks only
// its shape; the node's TxValidator checks the rest.
func Tx(t testing.TB, n uint64, size int) []byte {
	t.Helper()
	body := make([]byte, max(size, 8))
	binary.BigEndian.PutUint64(body, n)
	return Marshal(t, &pb.SignedTx{Body: body, Signature: make([]byte, 64)})
}

// Marshal encodes m or fails the test.
func Marshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
