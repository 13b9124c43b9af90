package exec_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/govnode/govnode/genesis"
	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/exec/exectest"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// FuzzDecodeTx: arbitrary bytes never panic, and either decode to a body
// with an action or fail with ErrMalformed / ErrTooLarge.
func FuzzDecodeTx(f *testing.F) {
	s := exectest.NewSigner("cit0")
	f.Add(s.Tx(grant("g", "d1", "", "land_title", 1)))
	f.Add(s.Tx(regSubject("x", citizen)))
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		stx, body, err := exec.DecodeTx(b)
		if err != nil {
			if !errors.Is(err, exec.ErrMalformed) && !errors.Is(err, exec.ErrTooLarge) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		if body.GetAction() == nil || len(stx.GetBody()) == 0 || len(stx.GetSignature()) == 0 {
			t.Fatal("decoded tx without action, body or signature")
		}
	})
}

var (
	fuzzOnce  sync.Once
	fuzzChain *exectest.Chain
)

// FuzzCheckTx: arbitrary bytes never panic nor give a node error; a result
// always has a code and, when refused, a reason.
func FuzzCheckTx(f *testing.F) {
	fx := exectest.NewFixture(2)
	f.Add(fx.S("cit0").Tx(grant("g", "d1", "", "land_title", 1<<40)))
	f.Add(fx.S("d0.registrar").Tx(regSubject("x", citizen)))
	f.Add(fx.S("d0.issuer").Tx(createRec("r", "land_title", "cit0", []byte("x"))))
	f.Add([]byte{0xff})
	fuzzOnce.Do(func() {
		c, err := exectest.NewFixture(2).NewChain(exec.DefaultConfig(exectest.ChainID))
		if err != nil {
			f.Fatal(err)
		}
		fuzzChain = c
	})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := fuzzChain.Exec.CheckTx(fuzzChain.Store, b)
		if err != nil {
			t.Fatalf("node error on tx input: %v", err)
		}
		if !r.OK() && r.Reason == "" {
			t.Fatalf("refusal %v without reason", r.Code)
		}
		if len(r.TxHash) != 32 {
			t.Fatalf("tx hash %x", r.TxHash)
		}
	})
}

// FuzzTemplateInstall: a governance proposal installing a template whose
// expressions (a guard, an assignment, a deadline's at and penalty) come
// from the network never panics nor gives a node error; it is admitted or
// refused with a reason, and the verdict is the same on two executors
// (two nodes) and on the same one again (its compiled-expression cache
// warm). Known templates are admitted; expressions that may cost too much
// are refused with their estimate.
func FuzzTemplateInstall(f *testing.F) {
	fx := exectest.NewFixture(2)
	var nodes [2]*exectest.Chain
	for i := range nodes {
		c, err := fx.NewChain(exec.DefaultConfig(exectest.ChainID))
		if err != nil {
			f.Fatal(err)
		}
		nodes[i] = c
	}
	admin := fx.S("d0.admin")
	install := func(t testing.TB, tmpl *pb.ContractTemplate) (pb.ResultCode, string) {
		t.Helper()
		tmpl.Id = "fuzz.v1"
		body := propose("p-fuzz", 100, func(p *pb.SubmitProposal) {
			p.Change = &pb.SubmitProposal_InstallContractTemplate{InstallContractTemplate: tmpl}
		})
		body.Nonce = admin.Nonce + 1 // checked, never applied: the same nonce every time
		tx := admin.Tx(body)
		var code pb.ResultCode
		var reason string
		for i, c := range []*exectest.Chain{nodes[0], nodes[1], nodes[0]} {
			r, err := c.Exec.CheckTx(c.Store, tx)
			if err != nil {
				t.Fatalf("node error on a template proposal: %v", err)
			}
			if !r.OK() && r.Reason == "" {
				t.Fatalf("refusal %v without reason", r.Code)
			}
			if i == 0 {
				code, reason = r.Code, r.Reason
			} else if r.Code != code || r.Reason != reason {
				t.Fatalf("verdicts differ: %v %q, then %v %q", code, reason, r.Code, r.Reason)
			}
		}
		return code, reason
	}
	withExprs := func(guard, set, at, penalty string) *pb.ContractTemplate {
		t := exec.TenderTemplate()
		t.Transitions[1].Guard = guard
		t.Transitions[2].Set[0].Expr = set
		t.Deadlines[0].At = at
		t.Deadlines[0].Penalty = penalty
		return t
	}
	tender := exec.TenderTemplate()
	base := []string{tender.Transitions[1].Guard, tender.Transitions[2].Set[0].Expr, tender.Deadlines[0].At, "fields.amount / 10"}
	for name, tmpl := range map[string]*pb.ContractTemplate{
		"tender":       exec.TenderTemplate(),
		"sample":       genesis.SampleProcurementTemplate(),
		"with penalty": withExprs(base[0], base[1], base[2], base[3]),
		"long sum":     withExprs("fields.amount"+strings.Repeat(" + fields.amount", 40)+" > 0", base[1], base[2], ""),
	} {
		if code, reason := install(f, tmpl); code != pb.ResultCode_RESULT_CODE_OK {
			f.Fatalf("%s template refused: %v %s", name, code, reason)
		}
	}
	costly := strings.Repeat("fields == args && ", 39) + "fields == args"
	for name, tmpl := range map[string]*pb.ContractTemplate{
		"guard":      withExprs(costly, base[1], base[2], ""),
		"assignment": withExprs(base[0], costly, base[2], ""),
		"at":         withExprs(base[0], base[1], "("+costly+") ? 1 : 0", ""),
	} {
		code, reason := install(f, tmpl)
		if code != pb.ResultCode_RESULT_CODE_INVALID_ARGUMENT || !strings.Contains(reason, "estimated cost up to 1081440 exceeds the limit 1000000") {
			f.Fatalf("costly %s: %v %q, want it refused with its estimate", name, code, reason)
		}
	}
	f.Add(base[0], base[1], base[2], base[3])
	f.Add(costly, "now", "now", "")
	f.Add("fields.a.matches('(.{1000}){3}x')", "[1].map(x, x)", "fields.a + fields.b", "-1")
	f.Add("(((fields.a + fields.a) + (fields.a + fields.a)) + ((fields.a + fields.a) + (fields.a + fields.a))) != ''", "{'a': fields}.a == args", "9223372036854775807 + now", "fields.amount * fields.amount")
	f.Fuzz(func(t *testing.T, guard, set, at, penalty string) {
		for _, s := range []string{guard, set, at, penalty} {
			if !utf8.ValidString(s) {
				return // a proto string cannot carry it: DecodeTx refuses such a tx
			}
		}
		install(t, withExprs(guard, set, at, penalty))
	})
}
