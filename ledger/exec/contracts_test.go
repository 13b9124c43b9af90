package exec_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/exec/exectest"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

const day = 86400

func contractOf(t *testing.T, e *env, id string) *pb.Contract {
	t.Helper()
	c, err := exec.Contract(e.c.Store, id)
	if err != nil {
		t.Fatalf("contract %s: %v", id, err)
	}
	return c
}

// activeTender creates and signs a tender between d0.issuer (buyer) and co0.
func activeTender(t *testing.T, e *env, id string, deadline, grace int64) {
	t.Helper()
	e.ok("d0.issuer", createTender(id, "d0.issuer", "co0", deadline, grace))
	e.ok("d0.issuer", sign(id))
	r := e.ok("co0", sign(id))
	if len(r.GetEvents()) != 3 || r.GetEvents()[1].GetContract().GetAction() != "activated" || r.GetEvents()[2].GetPayment().GetKind() != exec.PaymentEscrow {
		t.Fatalf("last signature events %v", r.GetEvents())
	}
}

func TestTenderGoodPath(t *testing.T) {
	e := newEnv(t, 2)
	now := exectest.GenesisTimeMs / 1000
	r := e.ok("d0.issuer", createTender("t1", "d0.issuer", "co0", now+10*day, day))
	if ev := r.GetEvents()[0].GetContract(); ev.GetAction() != "created" || ev.GetToState() != "draft" {
		t.Fatalf("event %v", ev)
	}
	e.ok("d0.issuer", sign("t1"))
	if c := contractOf(t, e, "t1"); c.GetState() != "draft" || len(c.GetSignedBy()) != 1 {
		t.Fatalf("contract %v", c)
	}
	e.ok("co0", sign("t1"))
	if c := contractOf(t, e, "t1"); c.GetState() != "active" || c.GetActivatedAt() != e.c.TimeMs {
		t.Fatalf("contract %v", c)
	}
	e.ok("co0", submitMS("t1", "goods_delivered"))
	e.ok("d0.issuer", acceptMS("t1", "goods_delivered"))
	e.ok("co0", fire("t1", "deliver"))
	e.ok("co0", submitMS("t1", "final_inspection"))
	e.ok("d0.issuer", acceptMS("t1", "final_inspection"))
	r = e.ok("d0.issuer", fire("t1", "complete"))
	if ev := r.GetEvents()[0].GetContract(); ev.GetFromState() != "delivered" || ev.GetToState() != "completed" || ev.GetTransition() != "complete" {
		t.Fatalf("event %v", ev)
	}
	c := contractOf(t, e, "t1")
	if c.GetState() != "completed" || len(c.GetHistory()) != 4 {
		t.Fatalf("contract %v", c)
	}
	var completedAt int64
	for _, f := range c.GetFields() {
		if f.GetName() == "completed_at" {
			completedAt = f.GetIntValue()
		}
	}
	if completedAt != e.c.TimeMs/1000 {
		t.Fatalf("completed_at %d, block time %d", completedAt, e.c.TimeMs/1000)
	}
	// A contract in a final state never moves, not even by its deadline.
	e.refuse("d0.issuer", codeConflict, fire("t1", "terminate_for_breach"))
	e.refuse("co0", codeConflict, submitMS("t1", "final_inspection"))
	res := e.blockAt((now + 20*day) * 1000)
	if len(res.Events) != 0 {
		t.Fatalf("deadline moved a completed contract: %v", res.Events)
	}
	if c := contractOf(t, e, "t1"); c.GetState() != "completed" {
		t.Fatalf("state %s", c.GetState())
	}
}

func TestCreateContractRefusals(t *testing.T) {
	e := newEnv(t, 2)
	now := exectest.GenesisTimeMs / 1000
	e.ok("d0.issuer", createTender("t1", "d0.issuer", "co0", now+day, 0))
	e.refuse("d0.issuer", codeExists, createTender("t1", "d0.issuer", "co0", now+day, 0))
	e.refuse("cit0", codeUnauthorized, createTender("t2", "d0.issuer", "co0", now+day, 0))
	e.refuse("d0.issuer", codeNotFound, createTender("t2", "d0.issuer", "nobody", now+day, 0))
	b := createTender("t2", "d0.issuer", "co0", now+day, 0)
	b.GetCreateContract().TemplateId = "nope"
	e.refuse("d0.issuer", codeNotFound, b)
	b = createTender("t2", "d0.issuer", "co0", now+day, 0)
	b.GetCreateContract().Parties = b.GetCreateContract().Parties[:1]
	e.refuse("d0.issuer", codeInvalid, b)
	b = createTender("t2", "d0.issuer", "co0", now+day, 0)
	b.GetCreateContract().Parties[1].Role = "buyer"
	e.refuse("d0.issuer", codeInvalid, b)
	b = createTender("t2", "d0.issuer", "co0", now+day, 0)
	b.GetCreateContract().Parties[1].Role = "auditor"
	e.refuse("d0.issuer", codeInvalid, b)
	b = createTender("t2", "d0.issuer", "co0", now+day, 0)
	b.GetCreateContract().Fields = append(b.GetCreateContract().Fields, intField("bonus", 1))
	e.refuse("d0.issuer", codeInvalid, b)
	b = createTender("t2", "d0.issuer", "co0", now+day, 0)
	b.GetCreateContract().Fields = b.GetCreateContract().Fields[:2] // no deadline fields
	e.refuse("d0.issuer", codeInvalid, b)
	b = createTender("t2", "d0.issuer", "co0", now+day, 0)
	b.GetCreateContract().Parties = nil
	e.refuse("d0.issuer", codeInvalid, b)
	b = createTender("t2", "d0.issuer", "co0", now+day, 0)
	b.GetCreateContract().Fields = append(b.GetCreateContract().Fields, intField("amount", 2))
	e.refuse("d0.issuer", codeInvalid, b)
	b = createTender("t2", "d0.issuer", "co0", now+day, 0)
	b.GetCreateContract().Fields[1] = &pb.ContractField{Name: "currency"}
	e.refuse("d0.issuer", codeInvalid, b)
	e.ok("d0.registrar", setStatus("cit0", suspended, "inquiry"))
	e.refuse("d0.issuer", codeConflict, createTender("t2", "d0.issuer", "cit0", now+day, 0))
}

func TestSignAndMilestoneRefusals(t *testing.T) {
	e := newEnv(t, 2)
	now := exectest.GenesisTimeMs / 1000
	e.ok("d0.issuer", createTender("t1", "d0.issuer", "co0", now+10*day, day))
	e.refuse("cit0", codeUnauthorized, sign("t1"))
	e.refuse("cit0", codeNotFound, sign("nope"))
	e.ok("d0.issuer", sign("t1"))
	e.refuse("d0.issuer", codeConflict, sign("t1"))
	e.refuse("co0", codeConflict, submitMS("t1", "goods_delivered")) // still draft
	e.ok("co0", sign("t1"))
	e.refuse("co0", codeConflict, sign("t1"))

	e.refuse("d0.issuer", codeUnauthorized, submitMS("t1", "goods_delivered")) // buyer is not the submitter
	e.refuse("co0", codeNotFound, submitMS("t1", "nope"))
	e.refuse("co0", codeConflict, submitMS("t1", "final_inspection")) // belongs to delivered
	e.refuse("d0.issuer", codeConflict, acceptMS("t1", "goods_delivered"))
	b := submitMS("t1", "goods_delivered")
	b.GetSubmitMilestone().EvidenceHash = []byte{1}
	e.refuse("co0", codeInvalid, b)
	e.ok("co0", submitMS("t1", "goods_delivered"))
	e.ok("co0", submitMS("t1", "goods_delivered")) // resubmission before acceptance
	e.refuse("co0", codeUnauthorized, acceptMS("t1", "goods_delivered"))
	e.ok("d0.issuer", acceptMS("t1", "goods_delivered"))
	e.refuse("d0.issuer", codeConflict, acceptMS("t1", "goods_delivered"))
	e.refuse("co0", codeConflict, submitMS("t1", "goods_delivered"))
}

func TestFireTransitionRefusals(t *testing.T) {
	e := newEnv(t, 2)
	now := exectest.GenesisTimeMs / 1000
	activeTender(t, e, "t1", now+10*day, day)
	e.refuse("co0", codeGuard, fire("t1", "deliver"))                    // goods not accepted
	e.refuse("d0.issuer", codeGuard, fire("t1", "terminate_for_breach")) // deadline not passed
	e.refuse("co0", codeUnauthorized, fire("t1", "terminate_for_breach"))
	e.refuse("cit0", codeUnauthorized, fire("t1", "deliver"))
	e.refuse("d0.issuer", codeNotFound, fire("t1", "nope"))
	e.refuse("d0.issuer", codeConflict, fire("t1", "withdraw")) // only from draft
	e.refuse("d0.issuer", codeConflict, fire("t1", "complete")) // only from delivered
	e.refuse("d0.issuer", codeNotFound, fire("nope", "complete"))
	b := fire("t1", "deliver")
	b.GetFireTransition().Args = []*pb.ContractField{{Name: "x"}}
	e.refuse("co0", codeInvalid, b)

	// Buyer terminates for breach after the delivery deadline, before the
	// automatic deadline (delivery + grace).
	e.c.TimeMs = (now+10*day+60)*1000 - 1000
	r := e.ok("d0.issuer", fire("t1", "terminate_for_breach"))
	if ev := r.GetEvents()[0].GetContract(); ev.GetToState() != "terminated" || ev.GetActorId() != "d0.issuer" {
		t.Fatalf("event %v", ev)
	}
	// Later, the (stale) deadline entry does nothing.
	if res := e.blockAt((now + 12*day) * 1000); len(res.Events) != 0 {
		t.Fatalf("stale deadline fired: %v", res.Events)
	}

	// Withdraw from draft.
	e.ok("d0.issuer", createTender("t2", "d0.issuer", "co0", now+30*day, 0))
	e.refuse("co0", codeUnauthorized, fire("t2", "withdraw"))
	e.ok("d0.issuer", fire("t2", "withdraw"))
	e.refuse("co0", codeConflict, sign("t2"))
}

func TestDeadlineFiresAutomatically(t *testing.T) {
	e := newEnv(t, 2)
	now := exectest.GenesisTimeMs / 1000
	activeTender(t, e, "t1", now+10*day, day)
	due := now + 11*day
	// At exactly the deadline nothing fires: it fires at the first block past it.
	if res := e.blockAt(due * 1000); len(res.Events) != 0 {
		t.Fatalf("fired at the deadline: %v", res.Events)
	}
	res := e.blockAt(due*1000 + 1)
	// The penalty, the transition, the refund of the rest (money_test.go).
	if len(res.Events) != 3 || res.Events[0].GetPayment().GetKind() != exec.PaymentPenalty || res.Events[2].GetPayment().GetKind() != exec.PaymentRefund {
		t.Fatalf("events %v", res.Events)
	}
	ev := res.Events[1]
	if ev.GetContract().GetAction() != "deadline" || ev.GetContract().GetToState() != "terminated" || len(ev.GetTxHash()) != 0 || ev.GetHeight() != e.c.Height {
		t.Fatalf("deadline event %v", ev)
	}
	c := contractOf(t, e, "t1")
	if c.GetState() != "terminated" || c.GetHistory()[len(c.GetHistory())-1].GetTransition() != "terminate_for_breach" {
		t.Fatalf("contract %v", c)
	}
	// The deadline index is empty again.
	for _, k := range e.c.Store.Keys() {
		if len(k) > 3 && k[:3] == "dl/" {
			t.Fatalf("deadline entry left: %s", k)
		}
	}
}

func TestDeadlineGuardFalseLapses(t *testing.T) {
	e := newEnv(t, 2)
	now := exectest.GenesisTimeMs / 1000
	activeTender(t, e, "t1", now+10*day, day)
	e.ok("co0", submitMS("t1", "goods_delivered"))
	e.ok("d0.issuer", acceptMS("t1", "goods_delivered"))
	// Goods were accepted, so the breach guard is false when the deadline passes.
	res := e.blockAt((now + 12*day) * 1000)
	if len(res.Events) != 0 || contractOf(t, e, "t1").GetState() != "active" {
		t.Fatalf("deadline fired despite a false guard: %v", res.Events)
	}
}

func TestTemplateValidation(t *testing.T) {
	ex, err := exec.New(exec.DefaultConfig(exectest.ChainID))
	if err != nil {
		t.Fatal(err)
	}
	bad := map[string]func(*pb.ContractTemplate){
		"guard does not compile": func(t *pb.ContractTemplate) { t.Transitions[1].Guard = "milestones.goods_delivered.accepted &&" },
		"guard not bool":         func(t *pb.ContractTemplate) { t.Transitions[1].Guard = "fields.amount + 1 == 2 ? 1 : 2" },
		"unknown variable":       func(t *pb.ContractTemplate) { t.Transitions[1].Guard = "secret == 1" },
		"comprehension macro":    func(t *pb.ContractTemplate) { t.Transitions[1].Guard = "fields.all(k, k != '')" },
		"timestamp function": func(t *pb.ContractTemplate) {
			t.Transitions[1].Guard = "timestamp('2026-01-01T00:00:00Z') != timestamp('2026-01-02T00:00:00Z')"
		},
		"deadline not int":       func(t *pb.ContractTemplate) { t.Deadlines[0].At = "'soon'" },
		"deadline unknown trans": func(t *pb.ContractTemplate) { t.Deadlines[0].Transition = "nope" },
		"deadline wrong state":   func(t *pb.ContractTemplate) { t.Deadlines[0].State = "delivered" },
		"deadline final state":   func(t *pb.ContractTemplate) { t.Deadlines[0].State = "completed" },
		"deadline unknown state": func(t *pb.ContractTemplate) { t.Deadlines[0].State = "limbo" },
		"set unknown field":      func(t *pb.ContractTemplate) { t.Transitions[2].Set[0].Field = "nope" },
		"set bad expr":           func(t *pb.ContractTemplate) { t.Transitions[2].Set[0].Expr = "now +" },
		"role unknown":           func(t *pb.ContractTemplate) { t.Transitions[0].Roles = []string{"mayor"} },
		"no roles":               func(t *pb.ContractTemplate) { t.Roles = nil },
		"leaves final":           func(t *pb.ContractTemplate) { t.Transitions[0].From = []string{"completed"} },
		"no from":                func(t *pb.ContractTemplate) { t.Transitions[0].From = nil },
		"duplicate transition":   func(t *pb.ContractTemplate) { t.Transitions[1].Name = "withdraw" },
		"draft is active":        func(t *pb.ContractTemplate) { t.ActiveState = "draft" },
		"draft is final":         func(t *pb.ContractTemplate) { t.FinalStates = append(t.FinalStates, "draft") },
		"milestone role":         func(t *pb.ContractTemplate) { t.Milestones[0].AcceptorRole = "mayor" },
		"milestone state":        func(t *pb.ContractTemplate) { t.Milestones[0].State = "completed" },
		"milestone twice":        func(t *pb.ContractTemplate) { t.Milestones[1].Id = t.Milestones[0].Id },
		"expression too long":    func(t *pb.ContractTemplate) { t.Transitions[1].Guard = "true" + repeat(" && true", 400) },
		"bad id":                 func(t *pb.ContractTemplate) { t.Id = "a/b" },
		"no name":                func(t *pb.ContractTemplate) { t.Name = "" },
	}
	for name, mutate := range bad {
		t.Run(name, func(t *testing.T) {
			f := exectest.NewFixture(2)
			tmpl := exec.TenderTemplate()
			mutate(tmpl)
			f.Genesis.ContractTemplates = []*pb.ContractTemplate{tmpl}
			if _, err := ex.InitGenesis(f.Genesis); !errors.Is(err, exec.ErrInvalidGenesis) {
				t.Fatalf("InitGenesis: %v, want ErrInvalidGenesis", err)
			}
		})
	}
}

func TestCELCostLimit(t *testing.T) {
	f := exectest.NewFixture(2)
	tmpl := exec.TenderTemplate()
	tmpl.Id = "costly"
	// String concatenation growing the value: cheap to write, costly to run.
	tmpl.Transitions[1].Guard = "fields.amount" + repeat(" + fields.amount", 40) + " > 0"
	f.Genesis.ContractTemplates = append(f.Genesis.ContractTemplates, tmpl)
	cfg := exec.DefaultConfig(exectest.ChainID)
	cfg.CELCostLimit = 20
	c, err := f.NewChain(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, f: f, c: c}
	now := exectest.GenesisTimeMs / 1000
	b := createTender("t1", "d0.issuer", "co0", now+10*day, day)
	b.GetCreateContract().TemplateId = "costly"
	e.ok("d0.issuer", b)
	e.ok("d0.issuer", sign("t1"))
	e.ok("co0", sign("t1"))
	r := e.refuse("co0", codeGuard, fire("t1", "deliver"))
	t.Log(r.GetReason())
}

func repeat(s string, n int) string {
	out := ""
	for range n {
		out += s
	}
	return out
}

// TestConcurrentCheckAndApply runs the mempool's CheckTx (which compiles
// CEL for template proposals) while ApplyBlock evaluates guards on the same
// Executor; run with -race.
func TestConcurrentCheckAndApply(t *testing.T) {
	e := newEnv(t, 2)
	now := exectest.GenesisTimeMs / 1000
	activeTender(t, e, "t1", now+10*day, day)
	tmpl := exec.TenderTemplate()
	tmpl.Id = "tender.v9"
	tmpl.Transitions[1].Guard = "milestones.goods_delivered.accepted && fields.amount > 0"
	prop := e.s("d0.admin").Tx(propose("p", 100, func(p *pb.SubmitProposal) {
		p.Change = &pb.SubmitProposal_InstallContractTemplate{InstallContractTemplate: tmpl}
	}))
	e.s("d0.admin").Nonce--
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			r, err := e.c.Exec.CheckTx(e.c.Store, prop)
			if err != nil || !r.OK() {
				t.Errorf("check: %v %v", r, err)
				return
			}
		}
	}()
	for range 20 {
		// Guard evaluation (false: goods not accepted) against the same cache.
		res, err := e.c.Exec.ApplyBlock(e.c.Store, e.c.Header(e.c.TimeMs+1000), nil)
		if err != nil || len(res.Changes) != 0 {
			t.Fatalf("empty block: %v %v", res, err)
		}
		r, err := e.c.Exec.CheckTx(e.c.Store, e.s("co0").Tx(fire("t1", "deliver")))
		e.s("co0").Nonce--
		if err != nil || !r.OK() {
			t.Fatalf("check fire: %v %v", r, err)
		}
	}
	close(done)
	wg.Wait()
	e.refuse("co0", codeGuard, fire("t1", "deliver"))
}
