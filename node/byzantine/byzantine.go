//go:build byzantine

package byzantine

// This file is compiled only into test binaries (go build -tags byzantine):
// a validator that lies on purpose, so that tests can check what honest
// nodes make of it (ARCHITECTURE.md §7 "Faults and hostile input": no fork,
// no lost transaction, a clear refusal of every bad input). It is switched
// on by $GOVNODE_BYZANTINE, which `govnode start` passes in
// node.Options.Byzantine.
//
// How each behaviour reaches honest nodes:
//
//   - equivocate and doublevote send validly signed messages, through the
//     node's own transport: they pass every peer's checks (which check the
//     sender's signature only), so honest cores receive both of a pair,
//     vote for at most one block per (view, height), and record the
//     conflicting votes as equivocation evidence.
//   - badsig and garbage send what no honest node sends. They are written
//     as raw frames of the direct protocol on a fresh stream to each peer,
//     as a hostile implementation would: each peer rejects the first frame,
//     resets the stream, charges the invalid frame to this node and, after
//     a few bursts, graylists it (p2p's penalties), after which it is, for
//     consensus, a crashed node. So the invalid traffic starts only after a
//     warm-up of byzWarmupVotes own votes when equivocate or doublevote are
//     on, so that their conflicting messages are heard first.

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/p2p"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Behaviours of $GOVNODE_BYZANTINE.
const (
	byzEquivocate = "equivocate" // as leader, a second block for the same view, and a vote for it
	byzDoubleVote = "doublevote" // with every vote, a conflicting vote at the same (view, height)
	byzBadSig     = "badsig"     // copies of its consensus messages and txs with corrupted signatures
	byzGarbage    = "garbage"    // random frames on the direct protocol and sync streams
	byzAll        = "all"
)

// Pacing of the invalid traffic.
const (
	byzWarmupVotes   = 5
	byzBurstPeriod   = time.Second
	byzForgedQueue   = 256
	byzMaxFrameBytes = 1 << 20
	byzStreamTimout  = 5 * time.Second
)

type byzBehaviours struct{ equivocate, doubleVote, badSig, garbage bool }

// parseByzantine reads a comma-separated list of behaviours.
func parseByzantine(s string) (byzBehaviours, error) {
	var b byzBehaviours
	for _, f := range strings.Split(s, ",") {
		switch strings.TrimSpace(f) {
		case byzEquivocate:
			b.equivocate = true
		case byzDoubleVote:
			b.doubleVote = true
		case byzBadSig:
			b.badSig = true
		case byzGarbage:
			b.garbage = true
		case byzAll:
			b = byzBehaviours{true, true, true, true}
		case "":
		default:
			return b, fmt.Errorf("unknown behaviour %q (want %s, %s, %s, %s or %s)", f, byzEquivocate, byzDoubleVote, byzBadSig, byzGarbage, byzAll)
		}
	}
	return b, nil
}

// New returns the hook that carries out behaviours, or Honest when there
// are none.
func New(behaviours string, d Deps) (Hook, error) {
	if strings.TrimSpace(behaviours) == "" {
		return Honest{}, nil
	}
	b, err := parseByzantine(behaviours)
	if err != nil {
		return nil, err
	}
	if d.Signer == nil {
		return nil, errors.New("only a validator can misbehave: this node has no validator key in the set")
	}
	log := d.logger()
	log.Warn("BYZANTINE TEST NODE: misbehaving on purpose", "behaviours", behaviours)
	return &byzNode{d: d, log: log, b: b, forged: make(chan forged, byzForgedQueue)}, nil
}

// byzNode is a misbehaving validator's hook.
type byzNode struct {
	d      Deps
	log    *slog.Logger
	b      byzBehaviours
	votes  atomic.Int64 // own votes published
	forged chan forged  // corrupted copies waiting for the next burst
}

// forged is a message to send as it is, bypassing our own transport.
type forged struct {
	kind p2p.TopicKind
	data []byte
}

var _ Hook = (*byzNode)(nil)

func (b *byzNode) ConsensusSent(m *pb.ConsensusMessage, publish func(*pb.ConsensusMessage) error) {
	switch x := m.GetMsg().(type) {
	case *pb.ConsensusMessage_Proposal:
		if b.b.equivocate {
			b.proposeTwin(x.Proposal.GetBlock(), publish)
		}
	case *pb.ConsensusMessage_Vote:
		b.votes.Add(1)
		if b.b.doubleVote {
			b.voteFor(x.Vote.GetView(), x.Vote.GetHeight(), randomBytes(crypto.HashSize), publish)
		}
	}
	if b.b.badSig {
		if data, err := proto.Marshal(corruptConsensus(m)); err == nil {
			b.keep(forged{p2p.TopicConsensus, data})
		}
	}
}

func (b *byzNode) TxSent(tx []byte) {
	if !b.b.badSig {
		return
	}
	stx := &pb.SignedTx{}
	if proto.Unmarshal(tx, stx) != nil {
		return
	}
	stx.Signature = flipBit(stx.GetSignature())
	if data, err := proto.Marshal(stx); err == nil {
		b.keep(forged{p2p.TopicTx, data})
	}
}

func (b *byzNode) keep(f forged) {
	select {
	case b.forged <- f:
	default:
	}
}

// proposeTwin publishes a second block for the slot of blk and votes for
// it (the core voted for blk).
func (b *byzNode) proposeTwin(blk *pb.Block, publish func(*pb.ConsensusMessage) error) {
	twin, hdr, err := twinBlock(b.d.ChainID, b.d.Signer, blk)
	if err != nil {
		b.log.Debug("BYZANTINE: twin block", "err", err)
		return
	}
	b.publish(&pb.ConsensusMessage{Msg: &pb.ConsensusMessage_Proposal{Proposal: &pb.Proposal{Block: twin}}}, publish)
	suite, err := crypto.SuiteByName(hdr.GetCryptoSuite())
	if err != nil {
		b.log.Debug("BYZANTINE: twin block", "err", err)
		return
	}
	b.voteFor(hdr.GetView(), hdr.GetHeight(), suite.Hash(twin.GetHeader()), publish)
	b.log.Warn("BYZANTINE: equivocating proposal", "view", hdr.GetView(), "height", hdr.GetHeight())
}

// twinBlock is a validly signed block for the same slot as blk: the same
// txs, one millisecond later, so it passes every check blk passes. Its
// hash is of the suite its header names (ARCHITECTURE.md §6 "Crypto
// suites").
func twinBlock(chainID string, key crypto.PrivateKey, blk *pb.Block) (*pb.Block, *pb.Header, error) {
	hdr := &pb.Header{}
	if err := proto.Unmarshal(blk.GetHeader(), hdr); err != nil {
		return nil, nil, err
	}
	suite, err := crypto.SuiteByName(hdr.GetCryptoSuite())
	if err != nil {
		return nil, nil, err
	}
	hdr.TimeUnixMs++
	hb, err := proto.MarshalOptions{Deterministic: true}.Marshal(hdr)
	if err != nil {
		return nil, nil, err
	}
	sig, err := key.Sign(crypto.ProposalSignBytes(chainID, suite.Hash(hb)))
	if err != nil {
		return nil, nil, err
	}
	return &pb.Block{Header: hb, Txs: blk.GetTxs(), Justify: blk.GetJustify(), Tc: blk.GetTc(), Signature: sig}, hdr, nil
}

// voteFor publishes a validly signed vote for hash at (view, height).
func (b *byzNode) voteFor(view, height uint64, hash []byte, publish func(*pb.ConsensusMessage) error) {
	v, err := signedVote(b.d.ChainID, b.d.Signer, uint32(b.d.Self), view, height, hash)
	if err != nil {
		return
	}
	b.publish(&pb.ConsensusMessage{Msg: &pb.ConsensusMessage_Vote{Vote: v}}, publish)
}

func signedVote(chainID string, key crypto.PrivateKey, voter uint32, view, height uint64, hash []byte) (*pb.Vote, error) {
	sig, err := key.Sign(crypto.VoteSignBytes(chainID, view, height, hash))
	if err != nil {
		return nil, err
	}
	return &pb.Vote{View: view, Height: height, BlockHash: hash, Voter: voter, Signature: sig}, nil
}

// publish sends m, as this validator's, through the transport's publish.
func (b *byzNode) publish(m *pb.ConsensusMessage, publish func(*pb.ConsensusMessage) error) {
	m.Sender = uint32(b.d.Self)
	if err := publish(m); err != nil {
		b.log.Debug("BYZANTINE: publish", "err", err)
	}
}

// corruptConsensus is a copy of m whose signature no longer verifies.
func corruptConsensus(m *pb.ConsensusMessage) *pb.ConsensusMessage {
	c := proto.Clone(m).(*pb.ConsensusMessage)
	switch x := c.GetMsg().(type) {
	case *pb.ConsensusMessage_Vote:
		x.Vote.Signature = flipBit(x.Vote.GetSignature())
	case *pb.ConsensusMessage_Timeout:
		x.Timeout.Signature = flipBit(x.Timeout.GetSignature())
	case *pb.ConsensusMessage_Heartbeat:
		x.Heartbeat.Signature = flipBit(x.Heartbeat.GetSignature())
	case *pb.ConsensusMessage_Proposal:
		if blk := x.Proposal.GetBlock(); blk != nil {
			blk.Signature = flipBit(blk.GetSignature())
		}
	case *pb.ConsensusMessage_TimeoutCert:
		for _, s := range x.TimeoutCert.GetSigs() {
			s.Signature = flipBit(s.GetSignature())
		}
	}
	return c
}

// flipBit returns sig with one random bit flipped (a random signature if
// sig is empty).
func flipBit(sig []byte) []byte {
	if len(sig) == 0 {
		return randomBytes(64)
	}
	out := append([]byte(nil), sig...)
	r := randomBytes(2)
	out[int(r[0])%len(out)] ^= 1 << (r[1] % 8)
	return out
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// run sends the invalid traffic (badsig, garbage) in bursts, after the
// warm-up (see the file comment).
func (b *byzNode) Run(ctx context.Context) {
	if !b.b.badSig && !b.b.garbage {
		return
	}
	t := time.NewTicker(byzBurstPeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if (b.b.equivocate || b.b.doubleVote) && b.votes.Load() < byzWarmupVotes {
			continue
		}
		b.burst(ctx)
	}
}

// burst sends, on a new direct stream to every connected peer, frames of
// the invalid messages kept since the last burst (each consensus message
// in its frame, the txs in one batch), and with garbage a frame that does
// not decode, then garbage on a sync stream.
func (b *byzNode) burst(ctx context.Context) {
	var cons, txs [][]byte
	size := 0
	for size < byzMaxFrameBytes/2 {
		select {
		case f := <-b.forged:
			if f.kind == p2p.TopicTx {
				txs = append(txs, f.data)
			} else {
				cons = append(cons, f.data)
			}
			size += len(f.data)
			continue
		default:
		}
		break
	}
	var out []byte
	frame := func(f *pb.DirectFrame) {
		if data, err := proto.Marshal(f); err == nil {
			out = binary.AppendUvarint(out, uint64(len(data)))
			out = append(out, data...)
		}
	}
	if len(txs) > 0 {
		frame(&pb.DirectFrame{Frame: &pb.DirectFrame_Txs{Txs: &pb.TxBatch{Txs: txs}}})
	}
	for _, c := range cons {
		m := &pb.ConsensusMessage{}
		if proto.Unmarshal(c, m) == nil {
			frame(&pb.DirectFrame{Frame: &pb.DirectFrame_Consensus{Consensus: m}})
		}
	}
	if b.b.garbage {
		junk := randomBytes(32 + int(randomBytes(1)[0]))
		out = binary.AppendUvarint(out, uint64(len(junk)))
		out = append(out, junk...)
	}
	for _, p := range b.d.Host.Peers() {
		if !p.Connected {
			continue
		}
		if len(out) > 0 {
			b.sendDirect(ctx, p.ID, out)
		}
		if b.b.garbage {
			b.sendSyncGarbage(ctx, p.ID)
		}
	}
}

// sendDirect writes frames on a new direct-protocol stream to p.
func (b *byzNode) sendDirect(ctx context.Context, p peer.ID, frames []byte) {
	sctx, cancel := context.WithTimeout(ctx, byzStreamTimout)
	defer cancel()
	s, err := b.d.Host.Host().NewStream(sctx, p, p2p.DirectProtocol(b.d.ChainID))
	if err != nil {
		b.log.Debug("BYZANTINE: direct stream", "peer", p.String(), "err", err)
		return
	}
	defer s.Close()
	_ = s.SetWriteDeadline(time.Now().Add(byzStreamTimout))
	if _, err := s.Write(frames); err != nil {
		b.log.Debug("BYZANTINE: direct write", "peer", p.String(), "err", err)
	}
}

// sendSyncGarbage opens a block-sync stream to p and writes random bytes.
func (b *byzNode) sendSyncGarbage(ctx context.Context, p peer.ID) {
	sctx, cancel := context.WithTimeout(ctx, byzStreamTimout)
	defer cancel()
	s, err := b.d.Host.Host().NewStream(sctx, p, p2p.SyncProtocol(b.d.ChainID))
	if err != nil {
		return
	}
	defer s.Close()
	_ = s.SetWriteDeadline(time.Now().Add(byzStreamTimout))
	_, _ = s.Write(randomBytes(256))
}
