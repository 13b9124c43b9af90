package node_test

// ARCHITECTURE.md §7 at the p2p layer of a running node: a peer the consortium
// admits (an observer) sends malformed and hostile transactions and
// consensus messages on the direct protocol and garbage on the block-sync
// protocol; a stranger tries to connect. Every frame is refused
// (counted in the node's p2p metrics), none reaches the mempool or the
// chain, and the node still commits a valid tx afterwards.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/multiformats/go-multiaddr"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/node"
	"github.com/govnode/govnode/node/nodetest"
	"github.com/govnode/govnode/p2p"
	"github.com/govnode/govnode/p2p/p2ptest"
	"github.com/govnode/govnode/p2p/wire"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

func TestHostileP2P(t *testing.T) {
	// Two observers, one per kind of message: three rejections graylist
	// a sender, whose streams are then refused unread.
	ids := p2ptest.Identities(t, 3, 91)
	observer, observer2, stranger := ids[0], ids[1], ids[2]
	listen := freeP2PAddr(t)
	c := nodetest.NewChain(t, nodetest.Options{Configure: func(cfg *node.Config) {
		cfg.P2P.ListenAddrs = []string{listen}
		cfg.P2P.Observers = []string{observer.PeerID.String(), observer2.PeerID.String()}
	}})
	n := c.Start(t)
	committed := c.Official.Tx(nodetest.CreateRecord("lic-1", nodetest.BusinessLicense, "citizen0", []byte("licence")))
	n.CommitOK(t, committed)
	before := n.WaitIdle(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	target := peer.AddrInfo{ID: n.PeerID(), Addrs: []multiaddr.Multiaddr{multiaddr.StringCast(listen)}}

	// A stranger is refused at the connection.
	sh := attackerHost(t, stranger)
	if err := sh.Connect(ctx, target); err == nil {
		// The handshake may finish before the gater's verdict closes it.
		p2ptest.Eventually(t, 5*time.Second, "stranger disconnected", func() bool {
			return sh.Network().Connectedness(n.PeerID()) != 2 // network.Connected
		})
	}

	txTopic, oh := directSender(ctx, t, observer, target, c.ChainID, 1)
	consTopic, _ := directSender(ctx, t, observer2, target, c.ChainID, 2)
	txAccepted := metric(t, n, `govnode_p2p_messages_total{kind="tx",outcome="accepted"}`)

	// A tx refused for what the node's state says (here a nonce that a
	// committed tx used: an honest peer may gossip such a tx before it
	// learns of the commit) is ignored, not rejected: it must cost the
	// sender no score.
	stale := nodetest.Sign(c.Official.Key, &pb.TxBody{ChainId: c.ChainID, Signer: c.Official.ID, Nonce: 1,
		Action: nodetest.CreateRecord("stale", nodetest.BusinessLicense, "citizen0", nil).Action})
	ignored := metric(t, n, `govnode_p2p_messages_total{kind="tx",outcome="ignored"}`)
	if err := txTopic.Publish(ctx, stale); err != nil {
		t.Fatal(err)
	}
	p2ptest.Eventually(t, 15*time.Second, "replayed tx ignored", func() bool {
		return metric(t, n, `govnode_p2p_messages_total{kind="tx",outcome="ignored"}`) > ignored
	})
	if r := metric(t, n, `govnode_p2p_messages_total{kind="tx",outcome="rejected"}`); r != 0 {
		t.Fatalf("%v tx rejections after a stale nonce; want none (it proves nothing against its sender)", r)
	}

	// Hostile transactions. Each is refused by the tx validator (a reject
	// or, for a stale replay, an ignore); none may enter the mempool.
	off := c.Official
	chain := c.ChainID
	valid := off.Tx(nodetest.CreateRecord("lic-2", nodetest.BusinessLicense, "citizen0", []byte("x")))
	off.SetLastNonce(off.NextNonce() - 2) // valid is never sent whole: its nonce stays free
	stx := decodeSigned(t, valid)
	strangerKey, _ := crypto.GenerateKey(pb.KeyScheme_KEY_SCHEME_ED25519, bytes.NewReader(bytes.Repeat([]byte{7}, 64)))
	offBody := func(b *pb.TxBody) *pb.TxBody {
		b.ChainId, b.Signer, b.Nonce = chain, off.ID, off.NextNonce()
		return b
	}
	// Hostile consensus messages, from the other observer (its third
	// rejection graylists it, and the rest are refused unread): none names
	// a validator with a valid signature.
	hostileCons := [][]byte{
		[]byte("not a protobuf \xff\xff"),
		append([]byte{0x08}, bytes.Repeat([]byte{0xff}, 11)...),
		consVote(t, chain, observer.ValKey, 0, 5),                                                               // signed by a key that is not validator 0's
		consVote(t, chain, c.ValidatorKey, 9, 5),                                                                // no validator 9
		append(consVote(t, chain, c.ValidatorKey, 0, 6), 0xff),                                                  // trailing garbage breaks the encoding
		protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), []byte{0x0a, 0x03, 0xff, 0xff}), // a proposal with a garbage block
	}
	for i, m := range hostileCons {
		if err := consTopic.Publish(ctx, m); err != nil {
			t.Fatalf("publish consensus %d: %v", i, err)
		}
	}
	p2ptest.Eventually(t, 15*time.Second, "hostile consensus messages refused", func() bool {
		return metric(t, n, `govnode_p2p_messages_total{kind="consensus",outcome="rejected"}`) >= 3
	})

	hostileTxs := map[string][]byte{
		"garbage":                []byte("\xde\xad\xbe\xef garbage"),
		"truncated":              valid[:len(valid)/2],
		"huge varint":            append([]byte{0x08}, bytes.Repeat([]byte{0xff}, 11)...),
		"unsigned":               signedEnvelope(t, stx.GetBody(), nil),
		"signature flipped":      signedEnvelope(t, stx.GetBody(), append([]byte{stx.GetSignature()[0] ^ 1}, stx.GetSignature()[1:]...)),
		"signed by a non-member": nodetest.Sign(strangerKey, offBody(nodetest.CreateRecord("nm", nodetest.BusinessLicense, "citizen0", []byte("x")))),
		"unknown signer":         nodetest.Sign(strangerKey, &pb.TxBody{ChainId: chain, Signer: "ghost", Nonce: 1, Action: nodetest.CreateRecord("g", nodetest.BusinessLicense, "citizen0", nil).Action}),
		"other chain":            nodetest.SignBytes(off.Key, "other-chain", bodyBytes(t, &pb.TxBody{ChainId: "other-chain", Signer: off.ID, Nonce: off.NextNonce(), Action: nodetest.CreateRecord("oc", nodetest.BusinessLicense, "citizen0", nil).Action})),
		"invalid UTF-8 in memo":  nodetest.SignBytes(off.Key, chain, withField(stx.GetBody(), 4, []byte{0xff, 0xfe})),
		"markup in record id":    nodetest.Sign(off.Key, offBody(nodetest.CreateRecord("<script>alert(1)</script>", nodetest.BusinessLicense, "citizen0", nil))),
		"oversized":              nodetest.Sign(off.Key, offBody(nodetest.CreateRecord("big", nodetest.BusinessLicense, "citizen0", bytes.Repeat([]byte("b"), 70<<10)))),
	}
	for name, tx := range hostileTxs {
		if err := txTopic.Publish(ctx, tx); err != nil {
			t.Fatalf("publish %s: %v", name, err)
		}
	}
	// Once the sender is graylisted its streams are refused unread: not
	// every frame need be counted.
	p2ptest.Eventually(t, 15*time.Second, "hostile txs refused", func() bool {
		return metric(t, n, `govnode_p2p_messages_total{kind="tx",outcome="rejected"}`) >= 3
	})
	// And the operator sees the sender's score fall.
	p2ptest.Eventually(t, 15*time.Second, "sender's score negative in the metrics", func() bool {
		return metric(t, n, `govnode_p2p_peer_score{peer="`+observer.PeerID.String()+`"}`) < 0
	})
	// Hostile txs charge the tx score, which the metrics show apart.
	p2ptest.Eventually(t, 15*time.Second, "sender's tx score negative in the metrics", func() bool {
		return metric(t, n, `govnode_p2p_peer_scores{peer="`+observer.PeerID.String()+`",score="txs"}`) < 0
	})
	// Garbage on the block-sync protocol: each answered with a SyncError.
	for name, raw := range map[string][]byte{
		"oversized length":  binary.AppendUvarint(nil, 1<<40),
		"broken length":     bytes.Repeat([]byte{0xff}, 11),
		"truncated frame":   append(binary.AppendUvarint(nil, 100), 1, 2, 3),
		"malformed request": wire.AppendFrame(nil, []byte{0x0a, 0xff, 0xff}),
		"unknown kind":      wire.AppendFrame(nil, nil),
	} {
		s, err := oh.NewStream(ctx, n.PeerID(), p2p.SyncProtocol(c.ChainID))
		if err != nil {
			t.Fatalf("sync %s: %v", name, err)
		}
		_ = s.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := s.Write(raw); err == nil {
			_ = s.CloseWrite()
		}
		var resp pb.SyncResponse
		if err := wire.ReadMsg(wire.NewReader(s), 1<<20, &resp); err != nil || resp.GetError().GetMessage() == "" {
			t.Fatalf("sync %s: response %v, err %v; want a SyncError", name, &resp, err)
		}
		_ = s.Close()
	}
	if got := metric(t, n, `govnode_p2p_sync_requests_total{outcome="refused"}`); got < 5 {
		t.Fatalf("sync refusals counted %v, want 5", got)
	}

	// Nothing got in: no tx accepted from a peer, chain and mempool as
	// they were, and the stranger was refused.
	if got := metric(t, n, `govnode_p2p_messages_total{kind="tx",outcome="accepted"}`); got != txAccepted {
		t.Fatalf("%v hostile txs accepted from a peer", got-txAccepted)
	}
	unchanged(t, n, before)
	if metric(t, n, "govnode_p2p_conns_refused_total") < 1 {
		t.Fatal("stranger's connection not refused")
	}
	t.Logf("refused: %v txs, %v tx ignores, %v consensus msgs, %v sync requests, %v connections",
		metric(t, n, `govnode_p2p_messages_total{kind="tx",outcome="rejected"}`),
		metric(t, n, `govnode_p2p_messages_total{kind="tx",outcome="ignored"}`),
		metric(t, n, `govnode_p2p_messages_total{kind="consensus",outcome="rejected"}`),
		metric(t, n, `govnode_p2p_sync_requests_total{outcome="refused"}`),
		metric(t, n, "govnode_p2p_conns_refused_total"))
	// The node still works.
	n.CommitOK(t, c.Official.Tx(nodetest.CreateRecord("after", nodetest.BusinessLicense, "citizen0", []byte("ok"))))
}

// hostileSender writes frames of one DirectFrame field on the direct
// protocol, as a hostile implementation would: each message on a stream of
// its own, since the node resets a stream at its first invalid frame.
type hostileSender struct {
	h      host.Host
	to     peer.ID
	proto  protocol.ID
	field  protowire.Number // 1: a TxBatch of the message alone; 2: the message as the consensus field
	logger *testing.T
}

// Publish sends data in a frame of its own on a new stream.
func (s *hostileSender) Publish(ctx context.Context, data []byte) error {
	st, err := s.h.NewStream(ctx, s.to, s.proto)
	if err != nil {
		return err
	}
	defer st.Close()
	payload := data
	if s.field == 1 {
		payload = protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), data)
	}
	frame := protowire.AppendBytes(protowire.AppendTag(nil, s.field, protowire.BytesType), payload)
	_ = st.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err = st.Write(wire.AppendFrame(nil, frame))
	return err
}

// directSender is a libp2p host with identity id, connected to target,
// that sends whatever it is given on the direct protocol (it runs no
// checks), in field (1: tx batches, 2: consensus messages).
func directSender(ctx context.Context, t *testing.T, id p2ptest.Identity, target peer.AddrInfo, chainID string, field protowire.Number) (*hostileSender, host.Host) {
	t.Helper()
	h := attackerHost(t, id)
	if err := h.Connect(ctx, target); err != nil {
		t.Fatalf("observer refused: %v", err)
	}
	return &hostileSender{h: h, to: target.ID, proto: p2p.DirectProtocol(chainID), field: field, logger: t}, h
}

func freeP2PAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	return fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port)
}

func attackerHost(t *testing.T, id p2ptest.Identity) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.Identity(id.NodeKey), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.DisableMetrics(), libp2p.DisableRelay())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

func decodeSigned(t *testing.T, tx []byte) *pb.SignedTx {
	t.Helper()
	var s pb.SignedTx
	if err := proto.Unmarshal(tx, &s); err != nil {
		t.Fatal(err)
	}
	return &s
}

func signedEnvelope(t *testing.T, body, sig []byte) []byte {
	t.Helper()
	return marshalProto(t, &pb.SignedTx{Body: body, Signature: sig})
}

func marshalProto(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// consVote is a consensus vote message from validator idx signed by key.
func consVote(t *testing.T, chain string, key crypto.PrivateKey, idx uint32, height uint64) []byte {
	t.Helper()
	hash := crypto.Ed25519SHA256.Hash([]byte(strconv.FormatUint(height, 10)))
	sig, err := key.Sign(crypto.VoteSignBytes(chain, 1, height, hash))
	if err != nil {
		t.Fatal(err)
	}
	return marshalProto(t, &pb.ConsensusMessage{Sender: idx, Msg: &pb.ConsensusMessage_Vote{Vote: &pb.Vote{
		View: 1, Height: height, BlockHash: hash, Voter: idx, Signature: sig}}})
}

// metric reads one sample from the node's /metrics page; series is the
// metric name with its labels as the exposition format writes them
// (sorted by label name). A missing series reads as 0.
func metric(t *testing.T, n *nodetest.Node, series string) float64 {
	t.Helper()
	resp, err := n.HTTP.Get(n.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %v", series, err)
			}
			return f
		}
	}
	return 0
}
