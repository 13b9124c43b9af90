package portal_test

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/ledger/lightclient"
	"github.com/govnode/govnode/node"
	"github.com/govnode/govnode/node/nodetest"
	"github.com/govnode/govnode/node/portal"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// TestPortalInBrowserSM2: on an "sm2-sm3" chain the in-browser verifier
// (the light client compiled to WebAssembly, with SM3 and SM2) verifies a
// record green, agrees with the Go verifier on the good bundle and on a
// tampered one, and shows the tampered one red.
func TestPortalInBrowserSM2(t *testing.T) {
	chrome := chromium(t)
	portalAddr := freeAddr(t)
	chain := nodetest.NewChain(t, nodetest.Options{Suite: crypto.SM2SM3, Configure: func(c *node.Config) { c.Portal.ListenAddr = portalAddr }})
	n := chain.Start(t)
	base := n.PortalURL()

	const id = "lic-sm2-0007"
	off := chain.Official
	n.CommitOK(t, off.Tx(nodetest.CreateRecord(id, nodetest.BusinessLicense, nodetest.CitizenIDs[0], []byte("营业执照: 莲花茶馆, 花园路12号"))))
	n.CommitOK(t, off.Tx(nodetest.AmendRecord(id, 1, []byte("营业执照: 莲花茶馆, 花园路14号"), "address corrected")))
	genesisHash := fetchText(t, base+"/genesis-hash")
	gh, err := hex.DecodeString(genesisHash)
	if err != nil || len(gh) != 32 {
		t.Fatalf("genesis hash %q: %v", genesisHash, err)
	}
	var bundle []byte
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; ; i++ {
		bundle = fetchBytes(t, base+"/bundle/"+id)
		if rep, err := lightclient.VerifyBundle(bundle, gh); err == nil && len(rep.Versions) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bundle of %s does not verify with 2 versions", id)
		}
		n.CommitOK(t, off.Tx(nodetest.CreateRecord(fmt.Sprintf("filler-%d", i), nodetest.BusinessLicense, nodetest.CitizenIDs[1], []byte("x"))))
	}
	var pbb pb.ProofBundle
	if err := proto.Unmarshal(bundle, &pbb); err != nil {
		t.Fatal(err)
	}
	if !strings.EqualFold(hex.EncodeToString(crypto.SM2SM3.Hash(pbb.GetGenesis())), genesisHash) {
		t.Fatalf("the portal's genesis hash %s is not the SM3 of the bundle's genesis", genesisHash)
	}
	p := pbb.Versions[0].Proof
	p[len(p)/2] ^= 0x01
	tampered, err := proto.Marshal(&pbb)
	if err != nil {
		t.Fatal(err)
	}

	bctx := startBrowser(t, chrome)
	if err := chromedp.Do(bctx, chromedp.Navigate(portal.VerifyLink(base, id, genesisHash)), chromedp.WaitVisible(chromedp.CSS("#verdict.ok"))); err != nil {
		t.Fatalf("verified verdict on the sm2-sm3 chain: %v", err)
	}
	if v := run(t, bctx, chromedp.Text(chromedp.ID("verdict"))); !strings.HasPrefix(v, "✔ Verified against 1 validators") {
		t.Errorf("verdict %q", v)
	}
	for name, b := range map[string][]byte{"good": bundle, "tampered": tampered} {
		want, _ := lightclient.VerifyBundle(b, gh)
		wantJSON, err := json.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		js := fmt.Sprintf(`globalThis.govnodeVerify(Uint8Array.from(atob(%q), (c) => c.charCodeAt(0)), %q)`, base64.StdEncoding.EncodeToString(b), genesisHash)
		if got := run(t, bctx, chromedp.Evaluate[string](js)); got != string(wantJSON) {
			t.Errorf("%s: the browser's report differs from the Go verifier's\nbrowser: %.400s\ngo:      %.400s", name, got, wantJSON)
		}
		if name == "tampered" && want.OK {
			t.Error("the tampered sm2-sm3 bundle verifies")
		}
	}
}
