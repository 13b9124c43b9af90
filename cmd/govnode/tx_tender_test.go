package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/ledger/exec"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

var errRefused = connect.NewError(connect.CodeInvalidArgument, errors.New("refused"))

// accepted is how many txs the fake took.
func (f *fakeChain) acceptedCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.accepted)
}

func TestTxTenderPublishAndAward(t *testing.T) {
	dir, sum, f := testnetFixture(t, 1)
	addr := f.serve(t, 0)
	off := sum.Nodes[0].Official.ID
	bidAt := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)

	mustRun(t, nil, "tx", "tender", "publish", "--testnet", dir, "--signer", off, "--node", addr,
		"--id", "t1", "--title", "School chairs", "--requirements", "400 chairs, EN 1729", "--budget", "500000",
		"--bid-deadline", bidAt.Format(time.RFC3339), "--reveal-deadline", "+72h", "--template", "tender.v1",
		"--field", "currency=EUR", "--field", "delivery_deadline=int:1900000000", "--field", "grace_seconds=int:86400")
	a := lastAccepted(t, f).body.GetPublishTender()
	want := &pb.PublishTender{TenderId: "t1", Title: "School chairs", Requirements: "400 chairs, EN 1729", Budget: 500000,
		BidDeadline: bidAt.Unix(), RevealDeadline: a.GetRevealDeadline(), Scoring: "lowest_price", TemplateId: exec.TenderTemplateID,
		ContractFields: []*pb.ContractField{
			{Name: "currency", Value: &pb.ContractField_StringValue{StringValue: "EUR"}},
			{Name: "delivery_deadline", Value: &pb.ContractField_IntValue{IntValue: 1900000000}},
			{Name: "grace_seconds", Value: &pb.ContractField_IntValue{IntValue: 86400}},
		}}
	if !proto.Equal(a, want) {
		t.Errorf("publish: %v\nwant %v", a, want)
	}
	if d := a.GetRevealDeadline() - time.Now().Unix(); d < 72*3600-60 || d > 72*3600 {
		t.Errorf("--reveal-deadline +72h gave %d, %ds from now", a.GetRevealDeadline(), d)
	}

	// Unix seconds, a CEL scoring rule, the default template.
	now := time.Now().Unix()
	mustRun(t, nil, "tx", "tender", "publish", "--testnet", dir, "--signer", off, "--node", addr,
		"--id", "t2", "--title", "Buses", "--budget", "9223372036854775807",
		"--bid-deadline", itoa(int(now+3600)), "--reveal-deadline", itoa(int(now+7200)), "--scoring", "-price - fields.delivery_days * 100")
	a = lastAccepted(t, f).body.GetPublishTender()
	if a.GetBudget() != 9223372036854775807 || a.GetBidDeadline() != now+3600 || a.GetRevealDeadline() != now+7200 ||
		a.GetScoring() != "-price - fields.delivery_days * 100" || a.GetTemplateId() != exec.TenderTemplateID || len(a.GetContractFields()) != 0 {
		t.Errorf("publish t2: %v", a)
	}

	mustRun(t, nil, "tx", "tender", "award", "--testnet", dir, "--signer", off, "--node", addr,
		"--tender", "t1", "--bidder", "company0", "--contract", "t1-contract")
	if got := lastAccepted(t, f).body.GetAwardTender(); !proto.Equal(got, &pb.AwardTender{TenderId: "t1", BidderId: "company0", ContractId: "t1-contract"}) {
		t.Errorf("award: %v", got)
	}
}

// openTender puts an open tender in the fake's state.
func openTender(f *fakeChain, id string, bids ...*pb.Bid) {
	f.put(exec.TenderKey(id), &pb.Tender{Id: id, BuyerDepartmentId: "dept0", Budget: 1_000_000, Status: pb.TenderStatus_TENDER_STATUS_OPEN,
		BidDeadline: time.Now().Add(time.Hour).Unix(), RevealDeadline: time.Now().Add(2 * time.Hour).Unix(), Bids: bids})
}

func TestTxTenderSealedBidAndReveal(t *testing.T) {
	dir, sum, f := testnetFixture(t, 1)
	addr := f.serve(t, 0)
	co := companyOf(t, sum)
	openTender(f, "t1")
	secret := filepath.Join(t.TempDir(), "bid.json")

	r := mustRun(t, nil, "tx", "tender", "bid", "--testnet", dir, "--signer", co.ID, "--node", addr, "--output", "json",
		"--tender", "t1", "--price", "420000", "--field", "delivery_days=int:30", "--field", "warranty=5 years", "--secret-file", secret)
	sent := lastAccepted(t, f)
	if o := jsonObject(t, r.out); o["action"] != "submit_bid" || !strings.Contains(r.errOut, "tx tender reveal --secret-file "+secret) {
		t.Errorf("bid output: %s\nstderr: %s", r.out, r.errOut)
	}

	// The secret file: 0600, with everything the reveal needs.
	st, err := os.Stat(secret)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("secret file: %v, mode %v", err, st.Mode())
	}
	raw, _ := os.ReadFile(secret)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"chain_id", "tender", "bidder", "price", "fields", "salt", "commitment"} {
		if _, ok := m[k]; !ok {
			t.Errorf("secret file lacks %q: %s", k, raw)
		}
	}
	if m["tender"] != "t1" || m["bidder"] != co.ID || m["price"] != float64(420000) || m["chain_id"] != sum.ChainID {
		t.Errorf("secret file: %s", raw)
	}
	salt, err := hex.DecodeString(m["salt"].(string))
	if err != nil || len(salt) != 32 {
		t.Fatalf("salt %v: %v", m["salt"], err)
	}
	fields := []*pb.ContractField{
		{Name: "delivery_days", Value: &pb.ContractField_IntValue{IntValue: 30}},
		{Name: "warranty", Value: &pb.ContractField_StringValue{StringValue: "5 years"}},
	}
	commitment := crypto.Ed25519SHA256.BidCommitment("t1", co.ID, salt, 420000, exec.BidFieldsBytes(fields))
	if m["commitment"] != hex.EncodeToString(commitment) {
		t.Errorf("secret file commitment %v, want %x", m["commitment"], commitment)
	}

	// The tx carries the commitment and nothing else of the bid.
	if got := sent.body.GetSubmitBid(); !proto.Equal(got, &pb.SubmitBid{TenderId: "t1", Commitment: commitment}) {
		t.Errorf("bid action: %v", got)
	}
	if len(sent.payloads) != 0 || bytes.Contains(sent.raw, salt) || bytes.Contains(sent.raw, []byte("5 years")) {
		t.Error("the bid tx carries part of the bid's secret")
	}

	// The same file again: refused, nothing sent, the file intact.
	n := f.acceptedCount()
	r = run(t, nil, "tx", "tender", "bid", "--testnet", dir, "--signer", co.ID, "--node", addr, "--tender", "t1", "--price", "1", "--secret-file", secret)
	if r.err == nil || !strings.Contains(r.err.Error(), "exists: a bid's secret is never overwritten") || f.acceptedCount() != n {
		t.Errorf("bid over an existing secret file: %v", r.err)
	}
	if again, _ := os.ReadFile(secret); !bytes.Equal(again, raw) {
		t.Error("the secret file changed")
	}

	// The chain holds the bid: the reveal opens it.
	openTender(f, "t1", &pb.Bid{BidderId: co.ID, Commitment: commitment, Height: 1})
	mustRun(t, nil, "tx", "tender", "reveal", "--testnet", dir, "--signer", co.ID, "--node", addr, "--secret-file", secret)
	want := &pb.RevealBid{TenderId: "t1", Price: 420000, Fields: fields, Salt: salt}
	if got := lastAccepted(t, f).body.GetRevealBid(); !proto.Equal(got, want) {
		t.Errorf("reveal: %v\nwant %v", got, want)
	}
	if !bytes.Equal(crypto.Ed25519SHA256.BidCommitment(want.GetTenderId(), co.ID, want.GetSalt(), want.GetPrice(), exec.BidFieldsBytes(want.GetFields())), commitment) {
		t.Error("the reveal does not open the commitment")
	}

	// Refusals before anything is sent.
	tampered := filepath.Join(t.TempDir(), "tampered.json")
	writeFile(t, tampered, strings.Replace(string(raw), `"price": 420000`, `"price": 390000`, 1))
	otherField := filepath.Join(t.TempDir(), "field.json")
	writeFile(t, otherField, strings.Replace(string(raw), `"int": 30`, `"int": 20`, 1))
	for _, p := range []string{tampered, otherField} {
		if b, _ := os.ReadFile(p); bytes.Equal(b, raw) {
			t.Fatalf("%s is not tampered", p)
		}
	}
	n = f.acceptedCount()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"price changed", []string{"--signer", co.ID, "--secret-file", tampered}, "does not match its commitment"},
		{"field changed", []string{"--signer", co.ID, "--secret-file", otherField}, "does not match its commitment"},
		{"another signer", []string{"--signer", sum.Accounts[0].ID, "--secret-file", secret}, "holds the bid of " + co.ID},
		{"no file", []string{"--signer", co.ID}, "--secret-file is required"},
		{"missing file", []string{"--signer", co.ID, "--secret-file", filepath.Join(t.TempDir(), "none.json")}, "no such file"},
		{"not a secret", []string{"--signer", co.ID, "--secret-file", writeFile(t, filepath.Join(t.TempDir(), "x.json"), `{"tender":"t1","extra":1}`)}, "not a bid's secret file"},
	} {
		r := run(t, nil, append([]string{"tx", "tender", "reveal", "--testnet", dir, "--node", addr}, tc.args...)...)
		if r.err == nil || !strings.Contains(r.err.Error(), tc.want) {
			t.Errorf("reveal, %s: %v, want %q", tc.name, r.err, tc.want)
		}
	}
	// The chain's bid is another (replaced by a later bid), or revealed.
	openTender(f, "t1", &pb.Bid{BidderId: co.ID, Commitment: bytes.Repeat([]byte{1}, 32)})
	if r := run(t, nil, "tx", "tender", "reveal", "--testnet", dir, "--node", addr, "--signer", co.ID, "--secret-file", secret); r.err == nil ||
		!strings.Contains(r.err.Error(), "a later bid replaced it") {
		t.Errorf("reveal of a replaced bid: %v", r.err)
	}
	openTender(f, "t1", &pb.Bid{BidderId: co.ID, Commitment: commitment, Revealed: true})
	if r := run(t, nil, "tx", "tender", "reveal", "--testnet", dir, "--node", addr, "--signer", co.ID, "--secret-file", secret); r.err == nil ||
		!strings.Contains(r.err.Error(), "already revealed") {
		t.Errorf("reveal of a revealed bid: %v", r.err)
	}
	openTender(f, "t1")
	if r := run(t, nil, "tx", "tender", "reveal", "--testnet", dir, "--node", addr, "--signer", co.ID, "--secret-file", secret); r.err == nil ||
		!strings.Contains(r.err.Error(), "holds no bid of "+co.ID) {
		t.Errorf("reveal without a bid: %v", r.err)
	}
	if f.acceptedCount() != n {
		t.Errorf("%d refused reveals reached the node", f.acceptedCount()-n)
	}
}

func TestTxTenderErrors(t *testing.T) {
	dir, sum, f := testnetFixture(t, 1)
	addr := f.serve(t, 0)
	off, co := sum.Nodes[0].Official.ID, companyOf(t, sum).ID
	openTender(f, "t1")
	f.put(exec.TenderKey("done"), &pb.Tender{Id: "done", Status: pb.TenderStatus_TENDER_STATUS_AWARDED})
	tmp := t.TempDir()
	sec := func(name string) string { return filepath.Join(tmp, name) }
	past := itoa(int(time.Now().Add(-time.Hour).Unix()))
	publish := func(extra ...string) []string {
		base := map[string]string{"--id": "t9", "--title": "x", "--budget": "100", "--bid-deadline": "+1h", "--reveal-deadline": "+2h"}
		for i := 0; i+1 < len(extra); i += 2 {
			if extra[i+1] == "" {
				delete(base, extra[i])
			} else {
				base[extra[i]] = extra[i+1]
			}
		}
		args := []string{"tx", "tender", "publish", "--testnet", dir, "--signer", off, "--node", addr}
		for k, v := range base {
			args = append(args, k+"="+v)
		}
		return args
	}
	bid := func(extra ...string) []string {
		return append([]string{"tx", "tender", "bid", "--testnet", dir, "--signer", co, "--node", addr, "--tender", "t1"}, extra...)
	}
	n := f.acceptedCount()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{bid("--price", "100"), "--secret-file is required"},
		{bid("--price", "0", "--secret-file", sec("a")), "--price 0: must be above 0"},
		{bid("--price", "-7", "--secret-file", sec("a")), "--price -7: must be above 0"},
		{bid("--price", "9223372036854775808", "--secret-file", sec("a")), "out of range"},
		{bid("--price", "12.50", "--secret-file", sec("a")), "want a whole number of minor units"},
		{bid("--secret-file", sec("a")), `required flag(s) "price" not set`},
		{bid("--price", "5", "--field", "days", "--secret-file", sec("a")), "want name=value"},
		{bid("--price", "5", "--secret-file", filepath.Join(tmp, "no-dir", "a")), "does not exist"},
		{[]string{"tx", "tender", "bid", "--testnet", dir, "--signer", co, "--node", addr, "--tender", "ghost", "--price", "5", "--secret-file", sec("b")}, "tender ghost is not on chain"},
		{[]string{"tx", "tender", "bid", "--testnet", dir, "--signer", co, "--node", addr, "--tender", "done", "--price", "5", "--secret-file", sec("c")}, "TENDER_STATUS_AWARDED: it takes no bids"},
		{[]string{"tx", "tender", "bid", "--testnet", dir, "--node", addr, "--tender", "t1", "--price", "5", "--secret-file", sec("d")}, "--signer is required"},
		{publish("--budget", "0"), "--budget 0: must be above 0"},
		{publish("--budget", "99999999999999999999"), "out of range"},
		{publish("--budget", "1e3"), "want a whole number"},
		{publish("--bid-deadline", "tomorrow"), `--bid-deadline "tomorrow": want unix seconds, RFC 3339 or +duration`},
		{publish("--reveal-deadline", "+soon"), `--reveal-deadline "+soon": bad duration`},
		{publish("--bid-deadline", "+-1h"), "bad duration"},
		{publish("--bid-deadline", past), "is not in the future"},
		{publish("--bid-deadline", "+2h", "--reveal-deadline", "+1h"), "must come after --bid-deadline"},
		{publish("--bid-deadline", "+2h", "--reveal-deadline", "+2h"), "must come after --bid-deadline"},
		{publish("--bid-deadline", ""), `required flag(s) "bid-deadline" not set`},
		{publish("--id", "T 9"), `--id "T 9"`},
		{publish("--title", " "), "--title is required and must not be blank"},
		{publish("--scoring", " "), "--scoring is empty"},
		{publish("--title", strings.Repeat("t", 257)), "--title is 257 bytes, limit 256"},
		{publish("--requirements", strings.Repeat("r", 4097)), "--requirements is 4097 bytes, limit 4096"},
		{publish("--field", "n=int:x"), "bad int"},
		{[]string{"tx", "tender", "award", "--testnet", dir, "--signer", off, "--node", addr, "--tender", "t1", "--bidder", "company0"}, `required flag(s) "contract" not set`},
		{[]string{"tx", "tender", "award", "--testnet", dir, "--signer", off, "--node", addr, "--tender", "t1", "--bidder", "Company0", "--contract", "c"}, `--bidder "Company0"`},
	} {
		r := run(t, nil, tc.args...)
		if r.err == nil || !strings.Contains(r.err.Error(), tc.want) {
			t.Errorf("govnode %s:\n err %v\nwant %q", strings.Join(tc.args, " "), r.err, tc.want)
		}
	}
	if f.acceptedCount() != n {
		t.Errorf("%d refused commands reached the node", f.acceptedCount()-n)
	}
	for _, name := range []string{"a", "b", "c", "d"} {
		if _, err := os.Stat(sec(name)); err == nil {
			t.Errorf("a refused bid left its secret file %s", name)
		}
	}

	// A bid the node refuses leaves its secret file, and says so.
	f.submitErr = errRefused
	r := run(t, nil, bid("--price", "5", "--secret-file", sec("e"))...)
	f.submitErr = nil
	if r.err == nil || !strings.Contains(r.err.Error(), "written to "+sec("e")+" before sending") {
		t.Errorf("refused bid: %v", r.err)
	}
	if _, err := os.Stat(sec("e")); err != nil {
		t.Errorf("the secret of a bid that may be on chain was not kept: %v", err)
	}
}
