package p2p

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/consensus"
	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

const testChain = "unit-chain"

// senderCheck is the check the node installs: consensus.CheckSender, the
// one definition of a consensus message's authenticity.
func senderCheck(cache *crypto.SigCache) ConsensusCheck {
	return func(vs *ValidatorSet, m *pb.ConsensusMessage) error {
		return consensus.CheckSender(testChain, crypto.Ed25519SHA256, 0, vs, cache, m)
	}
}

func testKeys(t *testing.T, n int) ([]crypto.PrivateKey, *ValidatorSet) {
	t.Helper()
	r := rand.NewChaCha8([32]byte{1})
	keys := make([]crypto.PrivateKey, n)
	pubs := make([]*pb.PublicKey, n)
	for i := range keys {
		k, err := crypto.GenerateKey(pb.KeyScheme_KEY_SCHEME_ED25519, r)
		if err != nil {
			t.Fatal(err)
		}
		keys[i], pubs[i] = k, k.Public()
	}
	vs, err := NewValidatorSet(pubs)
	if err != nil {
		t.Fatal(err)
	}
	return keys, vs
}

func sign(t *testing.T, k crypto.PrivateKey, msg []byte) []byte {
	t.Helper()
	sig, err := k.Sign(msg)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

func marshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ARCHITECTURE.md §3: a consensus message must be signed by the
// validator it names; cheap checks reject before any signature is checked.
func TestCheckConsensus(t *testing.T) {
	keys, vs := testKeys(t, 4)
	hash := crypto.Ed25519SHA256.Hash([]byte("block"))
	vote := func(signer crypto.PrivateKey, voter, sender uint32) *pb.ConsensusMessage {
		return &pb.ConsensusMessage{Sender: sender, Msg: &pb.ConsensusMessage_Vote{Vote: &pb.Vote{
			View: 3, Height: 9, BlockHash: hash, Voter: voter,
			Signature: sign(t, signer, crypto.VoteSignBytes(testChain, 3, 9, hash)),
		}}}
	}
	hqc := &pb.QuorumCert{View: 2, Height: 8, BlockHash: hash}
	timeout := &pb.ConsensusMessage{Sender: 1, Msg: &pb.ConsensusMessage_Timeout{Timeout: &pb.Timeout{
		View: 3, HighQc: hqc, Voter: 1, Signature: sign(t, keys[1], crypto.TimeoutSignBytes(testChain, 3, 2, 8)),
	}}}
	heartbeat := &pb.ConsensusMessage{Sender: 2, Msg: &pb.ConsensusMessage_Heartbeat{Heartbeat: &pb.Heartbeat{
		View: 3, Leader: 2, HighQc: hqc, Seq: 5, Signature: sign(t, keys[2], crypto.HeartbeatSignBytes(testChain, 3, 5, 2, 8)),
	}}}
	txs := [][]byte{[]byte("tx a"), []byte("tx b"), []byte("tx c")}
	txHashes := [][]byte{crypto.Ed25519SHA256.Hash(txs[0]), crypto.Ed25519SHA256.Hash(txs[1]), crypto.Ed25519SHA256.Hash(txs[2])}
	proposal := func(chain string, proposer, sender uint32, signer crypto.PrivateKey) *pb.ConsensusMessage {
		hdr := marshal(t, &pb.Header{ChainId: chain, Height: 10, View: 3, Proposer: proposer,
			TxCount: uint32(len(txHashes)), TxRoot: crypto.Ed25519SHA256.MerkleRoot(txHashes)})
		return &pb.ConsensusMessage{Sender: sender, Msg: &pb.ConsensusMessage_Proposal{Proposal: &pb.Proposal{
			Block:    &pb.Block{Header: hdr, Signature: sign(t, signer, crypto.ProposalSignBytes(testChain, crypto.Ed25519SHA256.Hash(hdr)))},
			TxHashes: txHashes,
		}}}
	}
	// The same signed header with its txs altered on the way: the
	// signature still verifies, the txs are not the ones it commits to.
	withTxs := func(mutate func(p *pb.Proposal)) *pb.ConsensusMessage {
		m := proposal(testChain, 0, 0, keys[0])
		mutate(m.GetProposal())
		return m
	}
	full := withTxs(func(p *pb.Proposal) { p.TxHashes, p.Block.Txs = nil, txs })
	swapped := withTxs(func(p *pb.Proposal) { p.TxHashes = [][]byte{txHashes[1], txHashes[0], txHashes[2]} })
	swappedFull := withTxs(func(p *pb.Proposal) { p.TxHashes, p.Block.Txs = nil, [][]byte{txs[1], txs[0], txs[2]} })
	dropped := withTxs(func(p *pb.Proposal) { p.TxHashes = txHashes[:2] })
	both := withTxs(func(p *pb.Proposal) { p.Block.Txs = txs })
	replaced := withTxs(func(p *pb.Proposal) { p.TxHashes, p.Block.Txs = nil, [][]byte{txs[0], txs[1], []byte("forged")} })
	tc := func(sender uint32, signer crypto.PrivateKey, member uint32) *pb.ConsensusMessage {
		return &pb.ConsensusMessage{Sender: sender, Msg: &pb.ConsensusMessage_TimeoutCert{TimeoutCert: &pb.TimeoutCert{
			View: 3, HighQc: hqc,
			Sigs: []*pb.TimeoutSig{{Validator: member, HighQcView: 2, HighQcHeight: 8, Signature: sign(t, signer, crypto.TimeoutSignBytes(testChain, 3, 2, 8))}},
		}}}
	}
	twice := tc(2, keys[1], 1)
	twice.GetTimeoutCert().Sigs = append(twice.GetTimeoutCert().Sigs, twice.GetTimeoutCert().Sigs[0])
	badHashProposal := proposal(testChain, 0, 0, keys[0])
	badHashProposal.GetProposal().TxHashes = [][]byte{{1, 2, 3}}

	tests := []struct {
		name   string
		data   []byte
		reject bool
	}{
		{"vote", marshal(t, vote(keys[0], 0, 0)), false},
		{"timeout", marshal(t, timeout), false},
		{"heartbeat", marshal(t, heartbeat), false},
		{"proposal", marshal(t, proposal(testChain, 3, 3, keys[3])), false},
		{"timeout certificate with sender's timeout", marshal(t, tc(1, keys[1], 1)), false},

		{"garbage", []byte{0xff, 0xff, 0xff}, true},
		{"empty message", marshal(t, &pb.ConsensusMessage{Sender: 0}), true},
		{"oversized", append(marshal(t, vote(keys[0], 0, 0)), bytes.Repeat([]byte{0}, 1<<10)...), true},
		{"sender outside the set", marshal(t, vote(keys[0], 7, 7)), true},
		{"voter is not the sender", marshal(t, vote(keys[0], 0, 1)), true},
		{"signed by another validator", marshal(t, vote(keys[1], 0, 0)), true},
		{"proposal by another proposer", marshal(t, proposal(testChain, 1, 0, keys[0])), true},
		{"proposal for another chain", marshal(t, proposal("other", 0, 0, keys[0])), true},
		{"proposal signed by another", marshal(t, proposal(testChain, 0, 0, keys[1])), true},
		{"proposal with a short tx hash", marshal(t, badHashProposal), true},
		{"proposal with its txs", marshal(t, full), false},
		{"hash-only proposal, hashes swapped", marshal(t, swapped), true},
		{"proposal, txs swapped", marshal(t, swappedFull), true},
		{"hash-only proposal, a hash dropped", marshal(t, dropped), true},
		{"proposal, a tx replaced", marshal(t, replaced), true},
		{"proposal with txs and hashes", marshal(t, both), true},
		{"timeout certificate from a non-signer, signatures good", marshal(t, tc(2, keys[1], 1)), false},
		{"timeout certificate from a non-signer, a signature forged", marshal(t, tc(2, keys[3], 1)), true},
		{"timeout certificate without signatures", marshal(t, &pb.ConsensusMessage{Sender: 2, Msg: &pb.ConsensusMessage_TimeoutCert{TimeoutCert: &pb.TimeoutCert{View: 3, HighQc: hqc}}}), true},
		{"timeout certificate, one validator twice", marshal(t, twice), true},
		{"timeout certificate, forged own timeout", marshal(t, tc(1, keys[2], 1)), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, err := checkConsensus(vs, senderCheck(nil), tt.data, 512)
			if tt.reject {
				if !errors.Is(err, errReject) {
					t.Fatalf("err = %v, want a rejection", err)
				}
				return
			}
			if err != nil || msg == nil {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

// With a shared SigCache, a consensus message that passes fills the cache,
// so the consensus core's check of the same signature is a hit; one that
// fails leaves nothing in it.
func TestCheckConsensusFillsSigCache(t *testing.T) {
	keys, vs := testKeys(t, 4)
	hash := crypto.Ed25519SHA256.Hash([]byte("block"))
	signBytes := crypto.VoteSignBytes(testChain, 3, 9, hash)
	vote := func(signer crypto.PrivateKey) (*pb.ConsensusMessage, []byte) {
		sig := sign(t, signer, signBytes)
		return &pb.ConsensusMessage{Sender: 1, Msg: &pb.ConsensusMessage_Vote{Vote: &pb.Vote{
			View: 3, Height: 9, BlockHash: hash, Voter: 1, Signature: sig}}}, sig
	}
	cache := crypto.NewSigCache(16)
	good, goodSig := vote(keys[1])
	if _, err := checkConsensus(vs, senderCheck(cache), marshal(t, good), 1<<16); err != nil {
		t.Fatal(err)
	}
	if hit, err := cache.Verify(keys[1].Public(), signBytes, goodSig); !hit || err != nil {
		t.Fatalf("after p2p's check: hit %v err %v, want a hit", hit, err)
	}
	forged, forgedSig := vote(keys[2]) // signed by 2, sent as 1
	if _, err := checkConsensus(vs, senderCheck(cache), marshal(t, forged), 1<<16); err == nil {
		t.Fatal("forged vote accepted")
	}
	if hit, err := cache.Verify(keys[1].Public(), signBytes, forgedSig); hit || err == nil {
		t.Fatalf("forged vote: hit %v err %v", hit, err)
	}
}

func TestCheckTx(t *testing.T) {
	good := marshal(t, &pb.SignedTx{Body: []byte("body"), Signature: []byte("sig")})
	tests := []struct {
		name string
		data []byte
		ok   bool
	}{
		{"well formed", good, true},
		{"garbage", []byte{0xff}, false},
		{"no signature", marshal(t, &pb.SignedTx{Body: []byte("body")}), false},
		{"no body", marshal(t, &pb.SignedTx{Signature: []byte("sig")}), false},
		{"oversized", bytes.Repeat([]byte{0}, 65), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkTx(tt.data, 64)
			if tt.ok != (err == nil) || (err != nil && !errors.Is(err, errReject)) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

// The redial delay doubles per failure up to the cap, stays within the
// jitter band, and is the same for the same seed (time and randomness are inputs).
func TestBackoffDelay(t *testing.T) {
	cfg := DefaultConfig()
	cfg.BackoffMin, cfg.BackoffMax, cfg.BackoffJitter = 100e6, 1600e6, 0.2 // 100 ms .. 1.6 s
	seq := func(seed uint64) []int64 {
		r := rand.New(rand.NewPCG(seed, 1))
		var out []int64
		for f := range 10 {
			out = append(out, int64(backoffDelay(f, &cfg, r)))
		}
		return out
	}
	a := seq(7)
	for f, d := range a {
		base := min(int64(cfg.BackoffMin)<<f, int64(cfg.BackoffMax))
		lo, hi := float64(base)*0.8, float64(base)*1.2
		if float64(d) < lo || float64(d) > hi {
			t.Fatalf("failures=%d: delay %d outside [%v, %v]", f, d, lo, hi)
		}
	}
	if b := seq(7); !equal(a, b) {
		t.Fatal("same seed, different delays")
	}
	if c := seq(8); equal(a, c) {
		t.Fatal("different seeds, same delays")
	}
	cfg.BackoffJitter = 0
	if d := backoffDelay(1000, &cfg, nil); d != cfg.BackoffMax {
		t.Fatalf("no jitter, many failures: %v", d)
	}
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Delivery drops the oldest message when the reader falls behind, and
// counts it.
func TestDeliverDropOldest(t *testing.T) {
	d := &direct{n: &Host{}}
	ch := make(chan Message, 2)
	d.out[TopicTx] = ch
	for i := range 4 {
		d.deliver(Message{Kind: TopicTx, Data: []byte{byte(i)}})
	}
	if a, b := <-ch, <-ch; a.Data[0] != 2 || b.Data[0] != 3 {
		t.Fatalf("kept %d and %d, want the newest two", a.Data[0], b.Data[0])
	}
	if s := d.n.counters.topics[TopicTx].snapshot(); s.Dropped != 2 || s.Delivered != 4 {
		t.Fatalf("counted %d dropped, %d delivered; want 2 and 4", s.Dropped, s.Delivered)
	}
}

// FuzzCheckConsensus: no input makes the consensus validator panic, and
// whatever it accepts names a validator of the set.
func FuzzCheckConsensus(f *testing.F) {
	r := rand.NewChaCha8([32]byte{1})
	k, err := crypto.GenerateKey(pb.KeyScheme_KEY_SCHEME_ED25519, r)
	if err != nil {
		f.Fatal(err)
	}
	vs, err := NewValidatorSet([]*pb.PublicKey{k.Public()})
	if err != nil {
		f.Fatal(err)
	}
	hash := crypto.Ed25519SHA256.Hash(nil)
	sig, _ := k.Sign(crypto.VoteSignBytes(testChain, 1, 1, hash))
	seed, _ := proto.Marshal(&pb.ConsensusMessage{Msg: &pb.ConsensusMessage_Vote{Vote: &pb.Vote{View: 1, Height: 1, BlockHash: hash, Signature: sig}}})
	f.Add(seed)
	f.Add([]byte{})
	f.Add([]byte{0x12, 0x02, 0x0a, 0x00}) // a proposal with an empty block
	f.Add([]byte{0x2a, 0x02, 0x12, 0x00}) // a TC with an empty sig
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, err := checkConsensus(vs, senderCheck(nil), data, 1<<16)
		if err == nil && msg.GetSender() != 0 {
			t.Fatalf("accepted a message from %d", msg.GetSender())
		}
	})
}
