package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/genesis"
	"github.com/govnode/govnode/keystore"
	"github.com/govnode/govnode/ledger/exec"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// checkTestnetMoney checks what `govnode testnet` writes for tenders
// (ARCHITECTURE.md §5, "Tenders", "Budgets and payments"): the tender
// template beside the sample one, an opening budget for every department,
// and the default three companies, keyed in accounts/ and listed in
// testnet.json; the state machine takes the genesis.
func checkTestnetMoney(t *testing.T, dir string, sum *testnetSummary, doc *pb.GenesisDoc) {
	t.Helper()
	var tender *pb.ContractTemplate
	var ids []string
	for _, tm := range doc.GetContractTemplates() {
		ids = append(ids, tm.GetId())
		if tm.GetId() == exec.TenderTemplateID {
			tender = tm
		}
	}
	if strings.Join(ids, ",") != genesis.SampleProcurement+","+exec.TenderTemplateID || !proto.Equal(tender, exec.TenderTemplate()) {
		t.Errorf("genesis contract templates %v: want %s and exec.TenderTemplate()", ids, genesis.SampleProcurement)
	}

	if len(doc.GetBudgets()) != len(doc.GetValidators()) {
		t.Fatalf("%d budgets for %d departments", len(doc.GetBudgets()), len(doc.GetValidators()))
	}
	for i, b := range doc.GetBudgets() {
		if b.GetDepartmentId() != doc.GetValidators()[i].GetId() || b.GetBalance() != testnetBudget || b.GetFunded() != testnetBudget || b.GetUpdatedHeight() != 0 {
			t.Errorf("budget %d: %v", i, b)
		}
	}

	idents := map[string]*pb.Identity{}
	for _, idn := range doc.GetIdentities() {
		idents[idn.GetId()] = idn
	}
	var companies []testnetAccount
	for _, a := range sum.Accounts {
		if a.Kind == pb.IdentityKind_IDENTITY_KIND_COMPANY.String() {
			companies = append(companies, a)
		}
	}
	if len(companies) != 3 {
		t.Fatalf("%d companies in testnet.json, want 3", len(companies))
	}
	for j, a := range companies {
		wantDept := sum.Nodes[j%len(sum.Nodes)].DepartmentID
		if a.ID != "company"+itoa(j) || a.DepartmentID != wantDept || len(a.Roles) != 0 ||
			a.Key != filepath.Join(dir, "accounts", "company"+itoa(j)+".key") {
			t.Errorf("company %d in testnet.json: %+v", j, a)
		}
		st, err := os.Stat(a.Key)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("company key %s: %v", a.Key, err)
			continue
		}
		k, err := keystore.Load(a.Key, "")
		if err != nil {
			t.Fatal(err)
		}
		idn := idents[a.ID]
		if idn.GetKind() != pb.IdentityKind_IDENTITY_KIND_COMPANY || idn.GetDepartmentId() != wantDept ||
			idn.GetStatus() != pb.IdentityStatus_IDENTITY_STATUS_ACTIVE || !crypto.PublicKeyEqual(idn.GetPublicKey(), k.Public()) {
			t.Errorf("company %s in genesis: %v", a.ID, idn)
		}
	}

	// The state machine takes the genesis (budgets, companies, templates).
	ex, err := exec.New(exec.DefaultConfig(doc.GetChainId()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ex.InitGenesis(doc); err != nil {
		t.Fatalf("the state machine refuses the test network's genesis: %v", err)
	}
}

// --companies 0 writes none; a negative count is refused.
func TestTestnetCompaniesFlag(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "net")
	mustRun(t, nil, "testnet", "--validators", "1", "--out", dir, "--accounts", "1", "--companies", "0", "--base-port", "32000")
	sum, err := loadTestnetSummary(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Accounts) != 1 || sum.Accounts[0].Kind != pb.IdentityKind_IDENTITY_KIND_CITIZEN.String() {
		t.Errorf("accounts with --companies 0: %+v", sum.Accounts)
	}
	if r := run(t, nil, "testnet", "--validators", "1", "--out", filepath.Join(t.TempDir(), "n2"), "--companies", "-1"); r.err == nil ||
		!strings.Contains(r.err.Error(), "--companies: -1") {
		t.Errorf("--companies -1: %v", r.err)
	}
}
