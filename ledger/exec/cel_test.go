package exec

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"cel.dev/cel-go/cel"

	pb "github.com/govnode/govnode/proto/govnode/v1"
)

func newTestCEL(t testing.TB, limit uint64) *celEngine {
	t.Helper()
	c, err := newCELEngine(limit, DefaultMaxExprBytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func repeatJoin(s, sep string, n int) string {
	xs := make([]string, n)
	for i := range xs {
		xs[i] = s
	}
	return strings.Join(xs, sep)
}

// concatTree is a balanced concatenation of 2^depth fields (a chain that
// long would pass the parser's recursion limit).
func concatTree(depth int) string {
	if depth == 0 {
		return "fields.a"
	}
	sub := concatTree(depth - 1)
	return "(" + sub + " + " + sub + ")"
}

// bigVars gives every variable its largest value: MaxListLen fields and
// arguments of MaxFieldBytes each.
func bigVars() map[string]any {
	fields := make(map[string]any, MaxListLen)
	for i := range MaxListLen - 2 {
		fields[fmt.Sprintf("f%02d", i)] = strings.Repeat("x", MaxFieldBytes)
	}
	fields["a"] = strings.Repeat("a", MaxFieldBytes)
	fields["b"] = strings.Repeat("a", MaxFieldBytes-1) + "b"
	args := make(map[string]any, len(fields))
	for k, v := range fields {
		args[k] = v
	}
	return map[string]any{"fields": fields, "args": args, "milestones": map[string]any{}, "now": int64(1_700_000_000), "state": "active"}
}

// TestCELKnownExpressionsWithinLimits: every expression of the templates
// the repository ships or tests with is admitted, with room to spare.
func TestCELKnownExpressionsWithinLimits(t *testing.T) {
	c := newTestCEL(t, CELCostLimit)
	if err := c.compileTemplateExprs(TenderTemplate()); err != nil {
		t.Fatalf("TenderTemplate: %v", err)
	}
	for _, e := range []struct {
		src  string
		want *cel.Type
	}{
		{"milestones.goods_delivered.accepted", cel.BoolType},
		{"now > fields.delivery_deadline && !milestones.goods_delivered.accepted", cel.BoolType},
		{"fields.delivery_deadline + fields.grace_seconds", cel.IntType},
		{"fields.amount / 10", cel.IntType}, // the design's breach penalty
		{"now", nil},
		{"args.amount", nil},
		{"true", cel.BoolType},
		{"fields.deadline", cel.IntType},
		{"milestones.goods_delivered.accepted && fields.amount > 0", cel.BoolType},
		// contracts_test's TestCELCostLimit: 41 fields concatenated (~352,000).
		{"fields.amount" + strings.Repeat(" + fields.amount", 40) + " > 0", cel.BoolType},
	} {
		p, err := c.program(celContract, e.src)
		if err != nil {
			t.Fatalf("%s: %v", e.src, err)
		}
		if err := p.check(e.want); err != nil {
			t.Fatalf("%s refused: %v", e.src, err)
		}
		t.Logf("%-70.70s estimated cost %v", e.src, p.cost)
	}
	for _, src := range []string{"-price", "fields.warranty_months * 1000 - price", "price > 100 ? -price : -2 * price"} {
		if err := c.compileScore(src); err != nil {
			t.Fatalf("score %s: %v", src, err)
		}
	}
}

// TestCELHostileRefusedAtInstall: expressions that could slow a block are
// refused when the template is installed, with the estimate in the error
// when it is the cost that refuses them.
func TestCELHostileRefusedAtInstall(t *testing.T) {
	c := newTestCEL(t, CELCostLimit)
	cases := []struct {
		name, src, want string
	}{
		// Huge strings: there is no repetition operator, and growing a
		// string by concatenation costs what it copies.
		{"string times int", "'a' * 1000000 == ''", "found no matching overload for '_*_'"},
		{"contains of concatenations", "(" + concatTree(5) + ").contains(" + concatTree(4) + ")", "estimated cost up to 85991222 exceeds the limit 1000000"},
		{"six contains of largest fields", repeatJoin("fields.a.contains(fields.b)", " || ", 6), "estimated cost up to 1006662 exceeds the limit 1000000"},
		{"concatenation chain", "fields.a" + strings.Repeat(" + fields.a", 80) + " == ''", "max recursion depth exceeded"},
		// Whole maps compared entry by entry.
		{"map equality repeated", repeatJoin("fields == args", " && ", 40), "estimated cost up to 1081440 exceeds the limit 1000000"},
		// Lists: no comprehension can grow one, a literal is bounded by the
		// expression's size, and membership costs what it compares.
		{"membership in a large literal", repeatJoin("fields.a in ["+repeatJoin("args.b", ",", 62)+"]", " || ", 4), "estimated cost up to 1016356 exceeds the limit 1000000"},
		// Comprehensions, whatever their nesting, do not exist.
		{"comprehension building strings", "[1, 2, 3].map(x, fields.a + fields.a).size() > 0", "undeclared reference to 'map'"},
		{"nested comprehensions", "[1, 2].all(x, [1, 2].all(y, [1, 2].exists(z, x + y + z > 0)))", "undeclared reference to 'all'"},
		{"bind", "cel.bind(s, fields.a + fields.a, s + s) == ''", "undeclared reference"},
		// Regular expressions: refused (see cel.go).
		{"regex", "fields.a.matches('(.{1000}){3}x')", "undeclared reference to 'matches'"},
		{"time zone data", "timestamp('2026-01-01T00:00:00Z').getHours('Europe/Paris') == 1", "undeclared reference to 'timestamp'"},
		// Parser limits.
		{"deep nesting", strings.Repeat("(", 100) + "1" + strings.Repeat(")", 100) + " == 1", "expression recursion limit exceeded: 64"},
		{"too long", "true" + strings.Repeat(" && true", 300), "bytes, limit 2048"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.compile(tc.src, nil)
			if err == nil {
				p, _ := c.program(celContract, tc.src)
				t.Fatalf("admitted (estimate %v)", p.cost)
			}
			if !strings.Contains(err.Error(), tc.want) {
				if p, perr := c.program(celContract, tc.src); perr == nil {
					t.Logf("estimate %v", p.cost)
				}
				t.Fatalf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestCELTemplateMessages: the install error names the expression and
// gives the estimate; a deadline's penalty is checked like its time.
func TestCELTemplateMessages(t *testing.T) {
	c := newTestCEL(t, CELCostLimit)
	costly := repeatJoin("fields == args", " && ", 40)
	sixContains := repeatJoin("fields.a.contains(fields.b)", " || ", 6)
	for name, tc := range map[string]struct {
		mutate func(*pb.ContractTemplate)
		want   string
	}{
		"guard": {func(tm *pb.ContractTemplate) { tm.Transitions[1].Guard = costly },
			"guard of transition deliver: estimated cost up to 1081440 exceeds the limit 1000000"},
		"assignment": {func(tm *pb.ContractTemplate) { tm.Transitions[2].Set[0].Expr = costly },
			"assignment of field completed_at in transition complete: estimated cost up to 1081440 exceeds the limit 1000000"},
		"deadline at": {func(tm *pb.ContractTemplate) { tm.Deadlines[0].At = costly },
			"deadline of state active: at: expression has type bool, want int"},
		"penalty cost": {func(tm *pb.ContractTemplate) { tm.Deadlines[0].Penalty = sixContains + " ? 1 : 0" },
			"deadline of state active: penalty: estimated cost up to 1006662 exceeds the limit 1000000"},
		"penalty type": {func(tm *pb.ContractTemplate) { tm.Deadlines[0].Penalty = "'ten'" },
			"deadline of state active: penalty: expression has type string, want int"},
		"penalty syntax": {func(tm *pb.ContractTemplate) { tm.Deadlines[0].Penalty = "fields.amount /" },
			"deadline of state active: penalty: ERROR"},
	} {
		t.Run(name, func(t *testing.T) {
			tm := TenderTemplate()
			tc.mutate(tm)
			err := c.compileTemplateExprs(tm)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
			if code, _, ok := RefusalOf(err); !ok || code != pb.ResultCode_RESULT_CODE_INVALID_ARGUMENT {
				t.Fatalf("error %v is not an invalid-argument refusal", err)
			}
		})
	}
	tm := TenderTemplate()
	tm.Deadlines[0].Penalty = "fields.amount / 10"
	if err := c.compileTemplateExprs(tm); err != nil {
		t.Fatalf("penalty fields.amount / 10: %v", err)
	}
}

// TestCELRuntimeStop: an expression whose worst case is admitted is
// stopped at run time when the values make it cost more than the limit,
// with the same error and at the same cost on every engine; on ordinary
// values it runs.
func TestCELRuntimeStop(t *testing.T) {
	src := "fields.a" + strings.Repeat(" + fields.a", 40) + " != ''"
	c := newTestCEL(t, CELCostLimit)
	if err := c.compileBool(src); err != nil {
		t.Fatalf("install: %v", err)
	}
	small := map[string]any{"fields": map[string]any{"a": "ab"}, "args": map[string]any{}, "milestones": map[string]any{}, "now": int64(0), "state": "s"}
	if ok, err := c.evalBool(src, small); err != nil || !ok {
		t.Fatalf("small values: %v %v", ok, err)
	}
	big := bigVars()
	_, err := c.evalBool(src, big)
	if !errors.Is(err, errCELStopped) {
		t.Fatalf("largest values: %v, want a stop", err)
	}
	if want := "evaluation stopped: its cost passed the limit 100000"; err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
	// The charge is the work: the concatenations copy 4096·(2+…+41) bytes,
	// a unit per 10, although fields.a is dyn and the overload is chosen
	// only at run time.
	p, err := c.program(celContract, src)
	if err != nil {
		t.Fatal(err)
	}
	free := newTestCEL(t, 1<<40)
	fp, err := free.program(celContract, src)
	if err != nil {
		t.Fatal(err)
	}
	_, det, err := fp.prog.Eval(big)
	if err != nil {
		t.Fatal(err)
	}
	actual := *det.ActualCost()
	if actual < 4096*(41*42/2-1)/10 || actual > p.cost.Max {
		t.Fatalf("actual cost %d, want at least %d and at most the estimate %d", actual, 4096*(41*42/2-1)/10, p.cost.Max)
	}
	// The stop depends on the cost only: a limit of exactly the actual
	// cost lets it finish, one less stops it.
	if _, err := newTestCEL(t, actual).evalBool(src, big); err != nil {
		t.Fatalf("limit = cost: %v", err)
	}
	if _, err := newTestCEL(t, actual-1).evalBool(src, big); !errors.Is(err, errCELStopped) {
		t.Fatalf("limit = cost-1: %v", err)
	}
}

// TestCELRuntimeErrorsDeterministic: overflow and other run-time errors
// are errors, the same each time and on every engine, never a wrapped or
// partial value.
func TestCELRuntimeErrorsDeterministic(t *testing.T) {
	vars := map[string]any{
		"fields": map[string]any{"max": int64(1<<63 - 1), "min": int64(-1 << 63), "s": "x", "zero": int64(0)},
		"args":   map[string]any{}, "milestones": map[string]any{}, "now": int64(1_700_000_000), "state": "active",
	}
	for src, want := range map[string]string{
		"fields.max + 1":              "integer overflow",
		"fields.min - 1":              "integer overflow",
		"fields.max * 2":              "integer overflow",
		"-fields.min":                 "integer overflow",
		"fields.min / -1":             "integer overflow",
		"9223372036854775807 + now":   "integer overflow",
		"fields.max / fields.zero":    "division by zero",
		"fields.s + 1":                "no such overload",
		"fields.missing + 1":          "no such key: missing",
		"int('99999999999999999999')": "type conversion error from 'string' to 'int'",
	} {
		var first string
		for i, c := range []*celEngine{newTestCEL(t, CELCostLimit), newTestCEL(t, CELCostLimit)} {
			for range 2 { // compiled, then cached
				_, err := c.evalInt(src, vars)
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("%s: %v, want %q", src, err, want)
				}
				if i == 0 && first == "" {
					first = err.Error()
				} else if err.Error() != first {
					t.Fatalf("%s: error %q then %q", src, first, err)
				}
			}
		}
	}
}

// TestCELCostDeterministic: the runtime cost of an evaluation is a
// function of the expression and the values only: the same on a fresh
// engine and on a cached program, however often it runs.
func TestCELCostDeterministic(t *testing.T) {
	big := bigVars()
	exprs := []string{
		"fields.a + fields.b != args.a",
		"fields == args",
		"size(fields.a) + size(string(bytes(fields.b)))",
		"fields.a.contains(fields.b) || fields.b.startsWith(fields.a)",
		"fields.a in [fields.b, args.b, fields.f01]",
		"[fields.a, fields.b] + [args.a] == [fields.a, fields.b, args.a]",
		"{'k': fields.a}.k + string(now) + state",
	}
	var costs []uint64
	for round := range 3 {
		c := newTestCEL(t, 1<<40)
		for i, src := range exprs {
			p, err := c.program(celContract, src)
			if err != nil {
				t.Fatalf("%s: %v", src, err)
			}
			for range 2 {
				_, det, err := p.prog.Eval(big)
				if err != nil {
					t.Fatalf("%s: %v", src, err)
				}
				got := *det.ActualCost()
				if round == 0 && len(costs) == i {
					costs = append(costs, got)
				} else if got != costs[i] {
					t.Fatalf("%s: cost %d, then %d", src, costs[i], got)
				}
				if got > p.cost.Max {
					t.Fatalf("%s: cost %d above its estimate %d", src, got, p.cost.Max)
				}
			}
		}
	}
	t.Logf("costs on the largest values: %v", costs)
}

// TestCELCacheDoesNotChangeVerdicts: an expression first compiled for
// one use is judged afresh for another (a cached program once skipped the
// type check, so a node's verdict depended on what it had seen before).
func TestCELCacheDoesNotChangeVerdicts(t *testing.T) {
	c := newTestCEL(t, CELCostLimit)
	if _, err := c.compile("1", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.compileBool("1"); err == nil {
		t.Fatal("int expression admitted as a guard once cached")
	}
	if err := c.compileInt("1"); err != nil {
		t.Fatal(err)
	}
	// Contract and scoring environments do not share programs.
	if err := c.compileScore("now"); err == nil {
		t.Fatal("scoring expression may read now")
	}
	if err := c.compileScore("price"); err != nil {
		t.Fatal(err)
	}
	if err := c.compileInt("price"); err == nil {
		t.Fatal("contract expression may read price")
	}
}

func TestCELScore(t *testing.T) {
	c := newTestCEL(t, CELCostLimit)
	for src, want := range map[string]string{
		"price > 0":          "expression has type bool, want int",
		"fields.a + fields.": "Syntax error",
		"state == ''":        "undeclared reference to 'state'",
		"(" + repeatJoin("fields.a.contains(fields.b)", " || ", 6) + ") ? 1 : 0": "estimated cost up to 1006662 exceeds the limit 1000000",
	} {
		if err := c.compileScore(src); err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("%s: %v, want %q", src, err, want)
		}
	}
	fields := map[string]any{"warranty_months": int64(24), "note": "n"}
	for src, want := range map[string]int64{
		"-price":                               -1000,
		"fields.warranty_months * 100 - price": 1400,
		"has(fields.discount) ? fields.discount - price : -price": -1000,
	} {
		if err := c.compileScore(src); err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		got, err := c.evalScore(src, 1000, fields)
		if err != nil || got != want {
			t.Fatalf("%s = %d, %v; want %d", src, got, err, want)
		}
	}
	if _, err := c.evalScore("-price", -1<<63, nil); err == nil || !strings.Contains(err.Error(), "integer overflow") {
		t.Fatalf("-MinInt64: %v", err)
	}
	if _, err := c.evalScore("fields.note", 1, fields); err == nil {
		t.Fatal("string score accepted")
	}
	big := bigVars()["fields"].(map[string]any)
	src := "size(fields.a" + strings.Repeat(" + fields.a", 40) + ")"
	if err := c.compileScore(src); err != nil {
		t.Fatalf("install: %v", err)
	}
	if _, err := c.evalScore(src, 1, big); !errors.Is(err, errCELStopped) {
		t.Fatalf("largest bid fields: %v, want a stop", err)
	}
}

// FuzzCELEval evaluates expressions the install check admits, on field
// values within the transaction limits: evaluation never panics, its
// cost never passes the estimate nor the limit, and the outcome (value or
// error, and cost) is the same on a fresh engine as on a cached program.
func FuzzCELEval(f *testing.F) {
	for _, s := range []string{
		"fields.a + fields.b", "fields.n * fields.n", "size(fields.a) > fields.n", "fields == args",
		"fields.a.contains(fields.b)", "string(fields.n) + fields.a", "fields.n / (fields.n - 7)",
		"has(fields.c) ? fields.c : fields.b", "fields.a < fields.b", "bytes(fields.a) + fields.c",
		"[fields.a, fields.n] + [fields.b]", "{'k': fields.a}.k == fields.b", "int(fields.a)", "-price + fields.n",
	} {
		f.Add(s, "abc", "b", int64(7), []byte{1}, uint16(3), false)
	}
	f.Add("fields.a"+strings.Repeat(" + fields.a", 40), "a", "b", int64(0), []byte{}, uint16(4000), false)
	f.Add("fields.n + 9223372036854775807", "", "", int64(1), []byte(nil), uint16(0), true)
	shared := newTestCEL(f, CELCostLimit)
	f.Fuzz(func(t *testing.T, src, a, b string, n int64, c []byte, grow uint16, score bool) {
		kind := celContract
		if score {
			kind = celScore
		}
		p, err := shared.program(kind, src)
		if err != nil || p.check(nil) != nil {
			return // refused at install; never evaluated
		}
		pad := int(grow) % (MaxFieldBytes + 1)
		clip := func(s string) string {
			s += strings.Repeat("z", pad)
			if len(s) > MaxFieldBytes {
				s = s[:MaxFieldBytes]
			}
			return s
		}
		if len(c) > MaxFieldBytes {
			c = c[:MaxFieldBytes]
		}
		fields := map[string]any{"a": clip(a), "b": clip(b), "n": n, "c": c, "t": n%2 == 0}
		vars := map[string]any{"fields": fields, "args": map[string]any{"a": clip(b)}, "milestones": map[string]any{"m": map[string]bool{"submitted": true, "accepted": false}}, "now": n, "state": "active", "price": n}
		outcome := func(e *celEngine) (string, uint64) {
			q, err := e.program(kind, src)
			if err != nil {
				t.Fatalf("admitted expression does not compile on a fresh engine: %v", err)
			}
			v, det, err := q.prog.Eval(vars)
			var cost uint64
			if det != nil && det.ActualCost() != nil {
				cost = *det.ActualCost()
			}
			if err != nil {
				return "error: " + err.Error(), cost
			}
			return fmt.Sprintf("%s %v", v.Type(), v.Value()), cost
		}
		got, cost := outcome(shared)
		if again, cost2 := outcome(newTestCEL(t, CELCostLimit)); again != got || cost2 != cost {
			t.Fatalf("%q: %s (cost %d) then %s (cost %d)", src, got, cost, again, cost2)
		}
		if cost > p.cost.Max {
			t.Fatalf("%q: cost %d above its estimate %v", src, cost, p.cost)
		}
	})
}
