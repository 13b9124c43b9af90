package portal_test

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/ledger/lightclient"
	"github.com/govnode/govnode/node"
	"github.com/govnode/govnode/node/nodetest"
	"github.com/govnode/govnode/node/portal"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// updateScreenshots, when set in the environment, makes the browser test
// save its two screenshots as the README's (docs/portal-verified.png and
// docs/portal-failed.png).
const updateScreenshots = "GOVNODE_UPDATE_SCREENSHOTS"

// chromium finds the browser. Without one the test is skipped on a
// developer's machine, and fails where the CI variable is set: .ci/run
// installs Debian's chromium, so a missing one there is a broken run.
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no chromium in PATH while CI is set: .ci/run installs it (apt-get install chromium)")
	}
	t.Skip("no chromium in PATH (apt-get install chromium); CI runs this test")
	return ""
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// The portal in a real browser (issue 21, "In a real browser"): a test
// node serves it; a public record with three versions and an access-log
// entry verifies green in the page, with its timeline and access log; a
// bundle with one byte of a version's proof flipped, dropped in through
// the page's file input, shows red with the verifier's reason; and every
// request the page makes goes to the portal's own origin, while a script
// of another origin is refused by the page's policy.
func TestPortalInBrowser(t *testing.T) {
	chrome := chromium(t)
	portalAddr := freeAddr(t)
	chain := nodetest.NewChain(t, nodetest.Options{Configure: func(c *node.Config) { c.Portal.ListenAddr = portalAddr }})
	n := chain.Start(t)
	base := n.PortalURL()
	if base != "http://"+portalAddr {
		t.Fatalf("portal at %q, configured %s", base, portalAddr)
	}

	const id = "lic-2026-0042"
	off := chain.Official
	n.CommitOK(t, off.Tx(nodetest.CreateRecord(id, nodetest.BusinessLicense, nodetest.CitizenIDs[0],
		[]byte("Business license: Lotus Tea House, 12 Garden Road. Activity: tea room, 40 seats."))))
	n.CommitOK(t, off.Tx(nodetest.AmendRecord(id, 1, []byte("Business license: Lotus Tea House, 14 Garden Road. Activity: tea room, 40 seats."), "address corrected after survey")))
	n.CommitOK(t, off.Tx(nodetest.AmendRecord(id, 2, []byte("Business license: Lotus Tea House, 14 Garden Road. Activity: tea room, 60 seats."), "extension approved")))
	n.CommitOK(t, off.Tx(nodetest.AccessRecord(id, "fire safety inspection", "Fire Protection Law art. 16")))
	genesisHash := fetchText(t, base+"/genesis-hash")
	gh, err := hex.DecodeString(genesisHash)
	if err != nil || len(gh) != 32 {
		t.Fatalf("genesis hash %q: %v", genesisHash, err)
	}

	// The bundle as the portal serves it, once the newest state (with the
	// access entry) is attested: verified here first, so the page's verdict
	// is compared with the verifier's own.
	var bundle []byte
	var rep *lightclient.Report
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; ; i++ {
		bundle = fetchBytes(t, base+"/bundle/"+id)
		rep, err = lightclient.VerifyBundle(bundle, gh)
		if err == nil && len(rep.Versions) == 3 && len(rep.Access) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bundle of %s does not verify with 3 versions and 1 access entry: %v %+v", id, err, rep)
		}
		// A block above the access entry's attests its state.
		n.CommitOK(t, off.Tx(nodetest.CreateRecord(fmt.Sprintf("filler-%d", i), nodetest.BusinessLicense, nodetest.CitizenIDs[1], []byte("x"))))
	}
	// The page fetches its own bundle, at the newest attested height then.
	wantVerdict := regexp.MustCompile(fmt.Sprintf(`^✔ Verified against %d validators at height (\d+)$`, len(rep.Validators.Keys)))

	// The tampered bundle: one byte flipped in the second version's proof.
	var pbb, pbb0 pb.ProofBundle
	if err := proto.Unmarshal(bundle, &pbb); err != nil {
		t.Fatal(err)
	}
	if err := proto.Unmarshal(bundle, &pbb0); err != nil {
		t.Fatal(err)
	}
	p := pbb.Versions[1].Proof
	p[len(p)/2] ^= 0x01
	tampered, err := proto.Marshal(&pbb)
	if err != nil {
		t.Fatal(err)
	}
	trep, terr := lightclient.VerifyBundle(tampered, gh)
	if terr == nil || trep.OK || len(trep.Failures) == 0 {
		t.Fatalf("the tampered bundle verifies: %v %+v", terr, trep)
	}
	tamperedFile := filepath.Join(t.TempDir(), id+"-tampered.bundle")
	if err := os.WriteFile(tamperedFile, tampered, 0o644); err != nil {
		t.Fatal(err)
	}

	// Another origin, to check that the page's policy refuses its scripts.
	var foreignHits atomic.Int64
	foreign := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		foreignHits.Add(1)
		w.Header().Set("Content-Type", "text/javascript")
		_, _ = io.WriteString(w, "document.title = 'pwned';")
	}))
	defer foreign.Close()

	bctx := startBrowser(t, chrome)

	var mu sync.Mutex
	var requests, problems []string
	if err := chromedp.Listen(bctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			requests = append(requests, e.Request.Method+" "+e.Request.URL)
		case *runtime.EventExceptionThrown:
			problems = append(problems, "exception: "+e.ExceptionDetails.Text+" "+exceptionText(e.ExceptionDetails))
		case *log.EventEntryAdded:
			if e.Entry.Level == log.EntryLevelError {
				problems = append(problems, "console: "+e.Entry.Text+" "+e.Entry.URL)
			}
		}
	}); err != nil {
		t.Fatal(err)
	}

	// The verification link (as the QR code carries it) verifies at once.
	link := portal.VerifyLink(base, id, genesisHash)
	if err := chromedp.Do(bctx, chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("#verdict.ok"))); err != nil {
		t.Fatalf("verified verdict: %v (problems %v)", err, problems)
	}
	verdict := run(t, bctx, chromedp.Text(chromedp.ID("verdict")))
	if m := wantVerdict.FindStringSubmatch(verdict); m == nil {
		t.Errorf("verdict %q, want %s", verdict, wantVerdict)
	} else if h, _ := strconv.ParseUint(m[1], 10, 64); h < rep.Validators.Height {
		t.Errorf("verdict at height %d, below the %d verified before", h, rep.Validators.Height)
	}
	if v := run(t, bctx, chromedp.Evaluate[int](`document.querySelectorAll('#timeline li.version').length`)); v != 3 {
		t.Errorf("%d versions in the timeline, want 3", v)
	}
	timeline := run(t, bctx, chromedp.Text(chromedp.ID("timeline")))
	for _, want := range []string{"address corrected after survey", "extension approved", "60 seats", off.ID, nodetest.Dept} {
		if !strings.Contains(timeline, want) {
			t.Errorf("timeline lacks %q:\n%s", want, timeline)
		}
	}
	access := run(t, bctx, chromedp.Text(chromedp.ID("access")))
	for _, want := range []string{"fire safety inspection", "Fire Protection Law art. 16"} {
		if !strings.Contains(access, want) {
			t.Errorf("access log lacks %q:\n%s", want, access)
		}
	}
	if src := run(t, bctx, chromedp.Evaluate[string](`document.getElementById('qr').src`)); src != base+"/qr/"+id+".png" {
		t.Errorf("QR image %q", src)
	}
	if _, err := chromedp.Run(bctx, chromedp.Poll[bool](`document.getElementById('qr').complete && document.getElementById('qr').naturalWidth > 100`, chromedp.WithPollingTimeout(5*time.Second))); err != nil {
		t.Errorf("QR image not shown: %v", err)
	}
	screenshot(t, bctx, "portal-verified.png")

	// The tampered bundle through the file input: red, with the
	// verifier's part and reason; the file is read in the page, nothing
	// is sent.
	mu.Lock()
	before := len(requests)
	mu.Unlock()
	if err := chromedp.Do(bctx, chromedp.SetUploadFiles(chromedp.ID("bundle-file"), []string{tamperedFile}), chromedp.WaitVisible(chromedp.CSS("#verdict.fail"))); err != nil {
		t.Fatalf("failed verdict: %v (problems %v)", err, problems)
	}
	if v := run(t, bctx, chromedp.Text(chromedp.ID("verdict"))); !strings.Contains(v, "Failed") {
		t.Errorf("verdict %q, want Failed", v)
	}
	failures := run(t, bctx, chromedp.Text(chromedp.ID("failures")))
	for _, f := range trep.Failures {
		if !strings.Contains(failures, f.Part+": "+f.Reason) {
			t.Errorf("page failures %q lack the verifier's %q: %q", failures, f.Part, f.Reason)
		}
	}
	mu.Lock()
	if sent := requests[before:]; len(sent) != 0 {
		t.Errorf("verifying a dropped file sent requests: %v", sent)
	}
	mu.Unlock()
	if tl := run(t, bctx, chromedp.Text(chromedp.ID("timeline"))); !strings.Contains(tl, "Version 2: not verified") {
		t.Errorf("timeline of the tampered bundle does not mark version 2:\n%s", tl)
	}
	screenshot(t, bctx, "portal-failed.png")

	// A file over the verifier's limit is refused by the page before it
	// is read.
	big := filepath.Join(t.TempDir(), "big.bundle")
	if err := os.WriteFile(big, make([]byte, lightclient.MaxBundleBytes+1), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(bctx, chromedp.SetUploadFiles(chromedp.ID("bundle-file"), []string{big}),
		chromedp.WaitVisible(chromedp.CSS("#status.error"))); err != nil {
		t.Fatalf("oversized file: %v", err)
	}
	if st := run(t, bctx, chromedp.Text(chromedp.ID("status"))); !strings.Contains(st, fmt.Sprintf("%d bytes, more than the %d", lightclient.MaxBundleBytes+1, lightclient.MaxBundleBytes)) {
		t.Errorf("oversized file: status %q", st)
	}

	// The language switch: the verdict in Chinese.
	if err := chromedp.Do(bctx, chromedp.Click(chromedp.ID("lang-zh"))); err != nil {
		t.Fatal(err)
	}
	if v := run(t, bctx, chromedp.Text(chromedp.ID("verdict"))); !strings.Contains(v, "验证失败") {
		t.Errorf("Chinese verdict %q", v)
	}

	// The in-browser verifier is the Go verifier: for the good bundle and
	// a tampering of each of its fields (tamper_test.go), the page's
	// govnodeVerify answers the very report lightclient.VerifyBundle does,
	// and no tampered bundle verifies.
	checkInBrowser := func(name string, b []byte) {
		t.Helper()
		want, werr := lightclient.VerifyBundle(b, gh)
		wantJSON, err := json.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		js := fmt.Sprintf(`globalThis.govnodeVerify(Uint8Array.from(atob(%q), (c) => c.charCodeAt(0)), %q)`, base64.StdEncoding.EncodeToString(b), genesisHash)
		got := run(t, bctx, chromedp.Evaluate[string](js))
		if got != string(wantJSON) {
			t.Errorf("%s: the browser's report differs from the Go verifier's\nbrowser: %.400s\ngo:      %.400s", name, got, wantJSON)
		}
		if name != "good" && (werr == nil || want.OK) {
			t.Errorf("%s: the tampered bundle verifies", name)
		}
	}
	checkInBrowser("good", bundle)
	tams := tamperings(&pbb0)
	for _, tam := range tams {
		b, err := applyTampering(&pbb0, tam)
		if err != nil {
			t.Fatalf("%s: %v", tam.name, err)
		}
		checkInBrowser(tam.name, b)
	}
	// A node that answers an id with another record's bundle: every proof
	// holds, but it is not the record asked for.
	ofWant, _ := lightclient.VerifyBundleOf(bundle, gh, "lic-other", 0)
	ofJSON, err := json.Marshal(ofWant)
	if err != nil {
		t.Fatal(err)
	}
	ofGot := run(t, bctx, chromedp.Evaluate[string](fmt.Sprintf(`globalThis.govnodeVerify(Uint8Array.from(atob(%q), (c) => c.charCodeAt(0)), %q, "lic-other")`,
		base64.StdEncoding.EncodeToString(bundle), genesisHash)))
	if ofWant.OK || ofGot != string(ofJSON) || !strings.Contains(ofGot, `"part":"record_id"`) {
		t.Errorf("another record's bundle for lic-other: browser %.300s, go %.300s", ofGot, ofJSON)
	}
	checkInBrowser("cut in half", bundle[:len(bundle)/2])
	checkInBrowser("garbage", []byte("not a bundle at all"))
	t.Logf("%d tampered bundles: the browser's verifier and the Go verifier agree, none verifies", len(tams)+2)

	// A pinned genesis hash of another chain: the page warns that the node
	// reports another, verifies against the pinned one, and the node's
	// bundle fails as another chain's.
	other := strings.Repeat("0f", 32)
	if err := chromedp.Do(bctx, chromedp.Click(chromedp.ID("lang-en")),
		chromedp.SetValue(chromedp.ID("pin-input"), other), chromedp.Click(chromedp.CSS("#pin-form button[type=submit]")),
		chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("#verdict.fail"))); err != nil {
		t.Fatalf("pinned other genesis: %v", err)
	}
	if w := run(t, bctx, chromedp.Text(chromedp.ID("genesis-warning"))); !strings.Contains(w, "differs from the one this node reports") {
		t.Errorf("no warning for a pinned hash that differs from the node's: %q", w)
	}
	if u := run(t, bctx, chromedp.Text(chromedp.ID("used-genesis"))); u != other {
		t.Errorf("verification uses %q, want the pinned %s", u, other)
	}
	if f := run(t, bctx, chromedp.Text(chromedp.ID("failures"))); !strings.Contains(f, "genesis") {
		t.Errorf("another chain's bundle: failures %q do not name the genesis", f)
	}

	// Unpinned again, a record id typed in the form verifies green.
	if err := chromedp.Do(bctx, chromedp.Click(chromedp.ID("unpin")), chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS("body[data-verifier=ready]")),
		chromedp.SendKeys(chromedp.ID("record-id"), id), chromedp.Click(chromedp.ID("verify-id")),
		chromedp.WaitVisible(chromedp.CSS("#verdict.ok"))); err != nil {
		t.Fatalf("record id typed in the form: %v", err)
	}
	if loc := run(t, bctx, chromedp.Location()); loc != link {
		t.Errorf("after verifying, the address is %s, want the verification link %s", loc, link)
	}

	mu.Lock()
	seen := append([]string(nil), requests...)
	mu.Unlock()
	if len(seen) < 6 {
		t.Errorf("only %d requests seen: %v", len(seen), seen)
	}
	for _, r := range seen {
		method, u, _ := strings.Cut(r, " ")
		if !strings.HasPrefix(u, base+"/") {
			t.Errorf("request to another origin than the portal's %s: %s", base, u)
		}
		if method != "GET" {
			t.Errorf("the page sent a %s: %s", method, u)
		}
	}

	// A script of another origin, put in the page: the policy refuses it
	// before any request leaves.
	probe := fmt.Sprintf(`new Promise((resolve) => {
		document.addEventListener('securitypolicyviolation', (e) => resolve('blocked ' + e.violatedDirective), {once: true});
		const s = document.createElement('script');
		s.src = %q;
		s.onload = () => resolve('loaded');
		document.head.append(s);
		setTimeout(() => resolve('no answer'), 5000);
	})`, foreign.URL+"/evil.js")
	res := run(t, bctx, chromedp.Evaluate[string](probe, func(p *runtime.EvaluateParams) { p.AwaitPromise = new(true) }))
	if !strings.HasPrefix(res, "blocked script-src") || foreignHits.Load() != 0 {
		t.Errorf("foreign script: %s, %d requests reached it", res, foreignHits.Load())
	}

	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		if strings.Contains(p, "evil.js") || strings.Contains(p, "Content Security Policy") {
			continue // the probe's own refusal
		}
		t.Errorf("page error: %s", p)
	}
}

// startBrowser starts chromium for the test, for 45 s at most; it is
// closed, and its process waited for, at the test's end.
func startBrowser(t *testing.T, chrome string) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	// No sandbox: Chromium refuses to run as root with it, and in a
	// container without user namespaces it cannot start one; the pages
	// it loads here are the portal's own.
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chrome), chromedp.WindowSize(1100, 900),
		chromedp.NoSandbox, chromedp.Flag("disable-dev-shm-usage", true), chromedp.Flag("lang", "en-US"))
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		// Close the browser and wait for its process: nothing is left.
		if err := chromedp.Cancel(bctx); err != nil {
			t.Logf("close the browser: %v", err)
		}
		bcancel()
		acancel()
		cancel()
	})
	return bctx
}

func run[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// screenshot saves the page as docs/name when updateScreenshots is set.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if os.Getenv(updateScreenshots) == "" {
		return
	}
	png := run(t, ctx, chromedp.FullScreenshot(100))
	path := filepath.Join("..", "..", "docs", name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("saved %s (%d bytes)", path, len(png))
}

func exceptionText(d *runtime.ExceptionDetails) string {
	if d.Exception != nil {
		return d.Exception.Description
	}
	return ""
}

func fetchBytes(t *testing.T, u string) []byte {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	return b
}

func fetchText(t *testing.T, u string) string { return strings.TrimSpace(string(fetchBytes(t, u))) }
