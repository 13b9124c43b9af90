package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// startTestnetNode starts node 0 of the test network in dir in-process
// (`govnode start`), waits until it answers, and stops it at cleanup.
func startTestnetNode(t *testing.T, dir string, sum *testnetSummary) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan result, 1)
	go func() {
		root := newRootCmd(cliEnv{DefaultHome: filepath.Join(t.TempDir(), "h"), Hostname: "testhost"})
		var out, errOut bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&errOut)
		root.SetArgs([]string{"start", "--home", sum.Nodes[0].Home, "--memory-limit-mib", "0", "--log-level", "warn"})
		err := root.ExecuteContext(ctx)
		done <- result{out: out.String(), errOut: errOut.String(), err: err}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case r := <-done:
			if r.err != nil {
				t.Errorf("node: %v\n%s", r.err, r.errOut)
			}
		case <-time.After(30 * time.Second):
			t.Error("node did not stop")
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := run(t, nil, "status", "--testnet", dir, "--timeout", "2s")
		if r.err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node did not answer: %v", r.err)
		}
		select {
		case r := <-done:
			t.Fatalf("the node stopped: %v\n%s", r.err, r.errOut)
		case <-time.After(100 * time.Millisecond): // poll with a deadline while the node starts
		}
	}
}

// A whole tender on a running one-validator test network, every step
// through the CLI in its fixed forms: publish, three sealed bids (one over
// the budget), reveals from the secret files, an award refused for the
// wrong bidder and accepted for the winner, the contract's escrow from the
// buyer's opening budget, a milestone paid to the supplier's account, and
// a governed budget funding; budgets proven against the commit
// certificate.
func TestTenderOnRunningNode(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a node")
	}
	dir := filepath.Join(t.TempDir(), "net")
	base := freeBasePort(t, 1)
	mustRun(t, nil, "testnet", "--validators", "1", "--out", dir, "--accounts", "1", "--base-port", strconv.Itoa(base), "--fault-model", "crash")
	sum, err := loadTestnetSummary(dir)
	if err != nil {
		t.Fatal(err)
	}
	startTestnetNode(t, dir, sum)
	off, admin := sum.Nodes[0].Official.ID, sum.Nodes[0].Admin.ID
	tx := func(signer string, args ...string) map[string]any {
		t.Helper()
		full := append(append([]string{"tx"}, args...), "--testnet", dir, "--signer", signer, "--wait", "--wait-timeout", "20s", "--output", "json")
		return jsonObject(t, mustRun(t, nil, full...).out)
	}
	query := func(args ...string) map[string]any {
		t.Helper()
		return jsonObject(t, mustRun(t, nil, append(append([]string{"query"}, args...), "--testnet", dir, "--output", "json")...).out)
	}

	now := time.Now()
	bidAt, revealAt := now.Add(5*time.Second), now.Add(9*time.Second)
	delivery := now.Add(30 * 24 * time.Hour).Unix()
	tx(off, "tender", "publish", "--id", "t1", "--title", "School chairs", "--requirements", "400 chairs", "--budget", "500000",
		"--bid-deadline", strconv.FormatInt(bidAt.Unix(), 10), "--reveal-deadline", revealAt.UTC().Format(time.RFC3339),
		"--scoring", "lowest_price", "--template", "tender.v1",
		"--field", "currency=EUR", "--field", "delivery_deadline=int:"+strconv.FormatInt(delivery, 10), "--field", "grace_seconds=int:60")

	secrets := t.TempDir()
	prices := map[string]string{"company0": "420000", "company1": "450000", "company2": "600000"}
	for _, co := range []string{"company0", "company1", "company2"} {
		tx(co, "tender", "bid", "--tender", "t1", "--price", prices[co], "--field", "delivery_days=int:30",
			"--secret-file", filepath.Join(secrets, co+".json"))
	}
	m := query("tender", "t1")
	tv := m["tender"].(map[string]any)
	if tv["status"] != "TENDER_STATUS_OPEN" || len(tv["bids"].([]any)) != 3 || tv["buyer_department_id"] != "dept0" {
		t.Fatalf("tender after bids: %v", tv)
	}
	for _, b := range tv["bids"].([]any) {
		if b.(map[string]any)["revealed"] != false || b.(map[string]any)["price"] != nil {
			t.Errorf("a sealed bid shows its terms: %v", b)
		}
	}

	time.Sleep(time.Until(bidAt.Add(1200 * time.Millisecond)))
	for _, co := range []string{"company0", "company1", "company2"} {
		tx(co, "tender", "reveal", "--secret-file", filepath.Join(secrets, co+".json"))
	}
	tv = query("tender", "t1")["tender"].(map[string]any)
	if tv["leading_bidder"] != "company0" {
		t.Errorf("leading bidder %v: %v", tv["leading_bidder"], tv["bids"])
	}
	for _, b := range tv["bids"].([]any) {
		b := b.(map[string]any)
		wantValid := b["bidder_id"] != "company2" // over the budget
		if b["revealed"] != true || b["valid"] != wantValid || strconv.FormatFloat(b["price"].(float64), 'f', -1, 64) != prices[b["bidder_id"].(string)] {
			t.Errorf("revealed bid: %v", b)
		}
	}

	time.Sleep(time.Until(revealAt.Add(1200 * time.Millisecond)))
	r := run(t, nil, "tx", "tender", "award", "--tender", "t1", "--bidder", "company1", "--contract", "t1-c", "--testnet", dir, "--signer", off, "--wait", "--wait-timeout", "20s")
	if r.err == nil || !strings.Contains(r.err.Error(), "the winner is company0") {
		t.Errorf("award to the wrong bidder: %v", r.err)
	}
	tx(off, "tender", "award", "--tender", "t1", "--bidder", "company0", "--contract", "t1-c")
	if tv := query("tender", "t1")["tender"].(map[string]any); tv["status"] != "TENDER_STATUS_AWARDED" || tv["contract_id"] != "t1-c" {
		t.Errorf("awarded tender: %v", tv)
	}
	c := query("contract", "t1-c")
	if c["state"] != "active" || c["amount"] != float64(420000) || c["escrow"] != float64(420000) || c["buyer_department_id"] != "dept0" || c["tender_id"] != "t1" {
		t.Errorf("contract: %v", c)
	}
	if dls := c["deadlines"].([]any); len(dls) != 1 || dls[0].(map[string]any)["due_unix"] != float64(delivery+60) {
		t.Errorf("contract deadlines: %v", c["deadlines"])
	}
	if p := c["payments"].([]any); len(p) != 1 || p[0].(map[string]any)["kind"] != "escrow" || p[0].(map[string]any)["amount"] != float64(420000) {
		t.Errorf("contract payments: %v", c["payments"])
	}
	if b := query("budget", "dept0")["budget"].(map[string]any); b["balance"] != float64(testnetBudget-420000) || b["funded"] != float64(testnetBudget) {
		t.Errorf("budget after the award: %v", b)
	}

	// The first milestone pays 70% from escrow to the supplier.
	tx("company0", "contract", "submit-milestone", "--id", "t1-c", "--milestone", "goods_delivered", "--evidence-hash", strings.Repeat("ab", 32))
	tx(off, "contract", "accept-milestone", "--id", "t1-c", "--milestone", "goods_delivered")
	if a := query("account", "company0"); a["found"] != true || a["account"].(map[string]any)["balance"] != float64(294000) {
		t.Errorf("supplier account: %v", a)
	}
	if c := query("contract", "t1-c"); c["escrow"] != float64(126000) || len(c["payments"].([]any)) != 2 {
		t.Errorf("contract after the milestone: %v", c)
	}

	// Governance funds the budget: one department, its admin's vote decides.
	tx(admin, "gov", "propose", "fund-budget", "--id", "fund-1", "--voting-end-height", "1000", "--department", "dept0", "--amount", "1000000", "--reason", "supplementary budget")
	tx(admin, "gov", "vote", "--proposal", "fund-1", "--vote", "yes")
	var b map[string]any
	for i := 0; ; i++ {
		// A proof is against the latest header that attests a state: a
		// block or two behind the head on an idle chain.
		r := run(t, nil, "query", "budget", "dept0", "--prove", "--testnet", dir, "--output", "json")
		if r.err == nil {
			b = jsonObject(t, r.out)
			if b["budget"].(map[string]any)["funded"] == float64(testnetBudget+1000000) {
				break
			}
		}
		if i == 10 {
			t.Fatalf("budget --prove after the funding: %v %v", r.err, b)
		}
		tx(off, "record", "create", "--id", "fill-"+strconv.Itoa(i), "--type", "land_title", "--subject", sum.Accounts[0].ID, "--content", "filler")
	}
	if bb := b["budget"].(map[string]any); bb["balance"] != float64(testnetBudget-420000+1000000) || b["proof"].(map[string]any)["verified"] != true {
		t.Errorf("proven budget after the funding: %v", b)
	}
}
