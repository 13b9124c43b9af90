package genesis

import (
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/govnode/govnode/crypto"
)

// On an sm2-sm3 chain a validator's peer binding signs its peer id's text,
// and peer admission (p2p.MembersOf, then crypto.CheckPeerBinding) checks it
// over the canonical text of the decoded id. A peer id written in another
// form libp2p decodes (the CIDv1 "bafz…" form) with a binding of that text
// would pass here and then never be admitted by any node: the document must
// be refused, naming the canonical form.
func TestSM2GenesisRefusesNonCanonicalPeerID(t *testing.T) {
	doc, keys := sm2Doc(t)
	d := doc.Validators[1]
	pid, err := peer.Decode(d.PeerId)
	if err != nil {
		t.Fatal(err)
	}
	cidText := peer.ToCid(pid).String()
	if back, err := peer.Decode(cidText); err != nil || back != pid || cidText == pid.String() {
		t.Fatalf("CID form %q of %s: decodes to %s, %v", cidText, pid, back, err)
	}
	d.PeerId = cidText
	if d.PeerBinding, err = BindPeer(keys[1], doc.ChainId, d.Id, cidText); err != nil {
		t.Fatal(err)
	}
	// What every node's admission checks: the binding does not hold for
	// the peer id it decodes to.
	if err := crypto.CheckPeerBinding(crypto.SM2SM3, doc.ChainId, d.Id, pid.String(), d.ConsensusKey, d.PeerBinding); err == nil {
		t.Fatal("a binding of the CID text holds for the canonical peer id: the test's premise is wrong")
	}
	_, err = Validate(doc)
	if err == nil {
		t.Fatal("sm2-sm3 genesis with a peer id not in its canonical form (its binding would never admit the node): accepted")
	}
	for _, want := range []string{"validators[1].peer_id", pid.String(), "canonical"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}

	// An ed25519-sha256 genesis has no binding: such a peer id stays as
	// accepted as before suites.
	ed := validDoc(t)
	ed.Validators[1].PeerId = peer.ToCid(mustDecode(t, ed.Validators[1].PeerId)).String()
	if _, err := Validate(ed); err != nil {
		t.Fatalf("ed25519-sha256 genesis with a CID-form peer id: %v", err)
	}
}

func mustDecode(t *testing.T, s string) peer.ID {
	t.Helper()
	pid, err := peer.Decode(s)
	if err != nil {
		t.Fatal(err)
	}
	return pid
}
