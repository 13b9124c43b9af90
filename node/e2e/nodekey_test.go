package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	osexec "os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/keystore"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// TestNodeKeyRotationLive: on a 4-node network under continuous load, node
// 1's operator writes a pending node key (`govnode keys pending --kind
// node`) and restarts the node so it holds both; dept1's rotate_node_key
// passes. From the height it is in force node 1 has the new peer id (its
// status says so), every member is connected to the new peer id and to
// none by the old, a host holding the leaked old node key is refused by
// the members, node 1 goes on signing commit certificates, and a restart
// of node 1 takes the new identity at once (ARCHITECTURE.md §4, "Node-key
// rotation"). Every acknowledged tx commits exactly once.
func TestNodeKeyRotationLive(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end network test")
	}
	began := time.Now()
	c := newCluster(t, 4, "byzantine")
	admins := c.admins()
	delay := c.chainParams(0).GetValidatorChangeDelay()
	load := c.startLoad([]int{0, 2, 3})
	defer load.finish()

	oldID := c.peerID(1)
	keyPath := filepath.Join(c.home(1), "keys", "node.key")
	oldKey, err := keystore.Load(keyPath, "")
	if err != nil {
		t.Fatal(err)
	}
	out, err := osexec.Command(binary, "keys", "pending", "--kind", "node", "--home", c.home(1), "--insecure-unencrypted", "--output", "json").Output()
	if err != nil {
		t.Fatalf("govnode keys pending --kind node: %v\n%s", err, stderrOf(err))
	}
	var printed struct {
		File   string `json:"file"`
		PeerID string `json:"peer_id"`
	}
	if err := json.Unmarshal(out, &printed); err != nil {
		t.Fatalf("keys pending output: %v\n%s", err, out)
	}
	newKey, err := keystore.Load(keystore.PendingPath(keyPath), "")
	if err != nil {
		t.Fatalf("the pending node key: %v", err)
	}
	pid, err := keystore.PeerIDFromPublicKey(newKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	newID := pid.String()
	if newID == oldID || printed.PeerID != newID || printed.File != keystore.PendingPath(keyPath) {
		t.Fatalf("pending node key %s: peer id %s (printed %q in %s), current %s", keystore.PendingPath(keyPath), newID, printed.PeerID, printed.File, oldID)
	}

	// Node 1 restarts and holds both keys; it keeps its old identity
	// until the rotation is in force.
	c.kill(1, syscall.SIGTERM)
	c.start(1)
	c.waitUp(1)
	c.waitHeight(c.height(0), 30*time.Second, 1)
	if st, err := c.status(1); err != nil || st.GetNodeId() != oldID {
		t.Fatalf("node1 before the rotation: node id %q (%v), want %s", st.GetNodeId(), err, oldID)
	}

	// Promoting the pending key before its rotation is in force is
	// refused: the current key is still needed.
	promote := func() ([]byte, error) {
		return osexec.Command(binary, "keys", "promote", "--kind", "node", "--home", c.home(1), "--node", c.apis[1], "--output", "json").Output()
	}
	if out, err := promote(); err == nil || !strings.Contains(string(stderrOf(err)), "not in force") {
		t.Fatalf("keys promote before the rotation: %v %s\n%s", err, out, stderrOf(err))
	}

	passed := c.passChange(admins, []int{1, 0, 2}, "rotate-node-dept1", &pb.SubmitProposal{
		Change: &pb.SubmitProposal_RotateNodeKey{RotateNodeKey: &pb.RotateNodeKey{DepartmentId: "dept1", PeerId: newID,
			PeerBinding: c.peerBinding(c.validatorKey(1), "dept1", newID)}},
	})
	at := passed + delay
	c.waitHeight(at+4, 60*time.Second, 0, 1, 2, 3)
	if st, err := c.status(1); err != nil || st.GetNodeId() != newID {
		t.Fatalf("node1 after the rotation in force at %d: node id %q (%v), want %s", at, st.GetNodeId(), err, newID)
	}
	// The members reach node 1 by its new peer id, and by the old one no
	// more.
	deadline := time.Now().Add(30 * time.Second)
	for _, i := range []int{0, 2, 3} {
		for !c.connectedTo(i, newID) || c.connectedTo(i, oldID) {
			if time.Now().After(deadline) {
				t.Fatalf("node%d: connected to node1's new peer id %v, to the old %v, %s after the switch at %d",
					i, c.connectedTo(i, newID), c.connectedTo(i, oldID), 30*time.Second, at)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	// dept1 signs certificates after the switch: node 1 is in consensus
	// under its new identity. A certificate holds the first quorum of
	// votes (3 of 4), and the blocks committed while node 1 reconnected
	// were certified without it: look for 60 blocks and at least 30 s,
	// not a number of blocks alone (about 45 a second on this chain).
	signed := uint64(0)
	deadline = time.Now().Add(30 * time.Second)
	bh := at
	for ; signed == 0 && (bh < at+60 || time.Now().Before(deadline)); bh++ {
		c.waitHeight(bh+1, 30*time.Second, 0)
		if slices.Contains(c.block(0, bh).GetSignerIds(), "dept1") {
			signed = bh
		}
	}
	if signed == 0 {
		t.Fatalf("dept1 signed no certificate of blocks %d..%d after its node key rotated at %d", at, bh-1, at)
	}

	// A host holding the leaked old node key is refused by the members.
	lk, err := keystore.NodeKeyToLibp2p(oldKey)
	if err != nil {
		t.Fatal(err)
	}
	h, err := libp2p.New(libp2p.Identity(lk), libp2p.NoListenAddrs)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	a0, err := ma.NewMultiaddr(c.p2pAddr(0))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Connect(ctx, peer.AddrInfo{ID: c.peerIDOf(0), Addrs: []ma.Multiaddr{a0}}); err == nil {
		// The gater may close a connection it let through the
		// handshake; it must not stay.
		time.Sleep(time.Second)
		if len(h.Network().ConnsToPeer(c.peerIDOf(0))) > 0 || c.connectedTo(0, oldID) {
			t.Fatal("node0 keeps a connection from the rotated-out node key")
		}
	} else {
		t.Logf("the old node key is refused: %v", err)
	}

	// The operator promotes the pending key: the key file is the new key,
	// the old one is kept aside, and a restart takes the new identity.
	if out, err := promote(); err != nil {
		t.Fatalf("keys promote after the rotation: %v %s\n%s", err, out, stderrOf(err))
	}
	if k, err := keystore.Load(keyPath, ""); err != nil || !crypto.PublicKeyEqual(k.Public(), newKey.Public()) {
		t.Fatalf("after promote, %s: %v", keyPath, err)
	}
	if _, err := os.Stat(keystore.PendingPath(keyPath)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("after promote the pending key file is still there: %v", err)
	}
	// A restart takes the new identity at once.
	c.kill(1, syscall.SIGTERM)
	c.start(1)
	c.waitUp(1)
	if st, err := c.status(1); err != nil || st.GetNodeId() != newID {
		t.Fatalf("node1 restarted after the rotation: node id %q (%v), want %s", st.GetNodeId(), err, newID)
	}
	c.waitHeight(c.height(0)+3, 60*time.Second, 1)

	acked := load.finish()
	load.noStall(t)
	for i := range 4 {
		c.waitCommitted(i, acked, 60*time.Second)
	}
	c.settle(30*time.Second, 0, 1, 2, 3)
	_, counts := c.checkAgreement(0, 1, 2, 3)
	exactlyOnce(t, acked, counts)
	t.Logf("node key rotation passed at %d, in force at %d, dept1 signs at %d; %d txs; %s", passed, at, signed, len(acked), time.Since(began).Round(time.Millisecond))
}

// p2pAddr is node i's TCP p2p address, from testnet.json.
func (c *cluster) p2pAddr(i int) string {
	c.t.Helper()
	return c.testnetNode(i).P2PAddr
}

// peerIDOf is node i's peer id as a peer.ID, decoded from testnet.json.
func (c *cluster) peerIDOf(i int) peer.ID {
	c.t.Helper()
	id, err := peer.Decode(c.testnetNode(i).PeerID)
	if err != nil {
		c.t.Fatal(err)
	}
	return id
}

type testnetNode struct {
	PeerID  string `json:"peer_id"`
	P2PAddr string `json:"p2p_addr"`
}

func (c *cluster) testnetNode(i int) testnetNode {
	c.t.Helper()
	raw, err := os.ReadFile(filepath.Join(c.dir, "testnet.json"))
	if err != nil {
		c.t.Fatal(err)
	}
	var sum struct {
		Nodes []testnetNode `json:"nodes"`
	}
	if err := json.Unmarshal(raw, &sum); err != nil {
		c.t.Fatal(err)
	}
	return sum.Nodes[i]
}
