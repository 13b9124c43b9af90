package exec

import (
	"errors"
	"fmt"
	"math"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/decls"
	celenv "cel.dev/cel-go/common/env"
	"cel.dev/cel-go/common/overloads"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"

	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// CEL in contracts and tenders (ARCHITECTURE.md §5 "Ledger and state
// machine", contracts; §7 "Faults and hostile input"). Determinism rules:
//   - the contract environment declares only `fields`, `args`
//     (map(string, dyn)), `milestones` (map(string, map(string, bool)) with
//     keys "submitted" and "accepted"), `now` (int, block time in unix
//     seconds) and `state`; the scoring environment of a tender declares
//     `price` (int) and `fields` (the bid's fields, map(string, dyn));
//   - comprehension macros (all, exists, exists_one, map, filter) are
//     removed, since they could iterate a Go map in random order; `has` is
//     kept;
//   - timestamp, duration, their accessors (time-zone data) and double()
//     are removed from the standard library, and so is matches(): RE2 runs
//     in time linear in the input but multiplied by the size of the
//     compiled pattern, which a counted repetition such as `(.{1000}){3}`
//     makes thousands of times the pattern's length, so CEL's cost model
//     (pattern length × input length) underprices it by orders of
//     magnitude, and a pattern taken from a field would be compiled in
//     the block;
//   - cost, in CEL's units (1 per operation; a string or bytes value
//     traversed costs a tenth of its length), is bounded twice. At install
//     (compile), the worst-case estimate — every field, argument and bid
//     field at the largest value a transaction may carry (MaxFieldBytes),
//     MaxListLen of them — must be at most CELMaxEstimatedCost, or the
//     expression is refused with the estimate in the error. At evaluation
//     the actual cost is counted as the evaluation goes and the evaluation
//     is stopped once it passes the executor's limit (Config.CELCostLimit,
//     normally CELCostLimit). The count depends only on the expression and
//     the values it reads, never on timing or memory, so a stop happens on
//     every node alike, at the same operation, with the same error;
//   - the cost model is pinned (celCostModelVersion), so that a cel-go
//     upgrade cannot move an estimate or a charge without a deliberate
//     change here;
//   - integer arithmetic that overflows is an error (CEL's rule), never a
//     wrapped value.
//
// Expressions are compiled when a template is installed (refused if they
// do not compile, have the wrong type or may cost too much) and compiled
// programs are cached by environment and source text, which is safe
// because the environments never change; the cache keeps the checked type
// and the estimate, so its verdict is the same whether or not an entry was
// evicted.

const (
	// CELCostLimit is the runtime cost limit of one evaluation that
	// DefaultConfig should give (Config.CELCostLimit; every node of a
	// chain must use the same). Measured on this cost model (a 2-CPU VM),
	// the costliest work per unit — building strings by concatenation, a
	// unit per 10 bytes copied — runs at about 10 ns a unit, so an
	// evaluation stops within about a millisecond whatever its expression
	// and values.
	CELCostLimit = 100_000
	// CELMaxEstimatedCost bounds the worst-case estimated cost of an
	// installed expression (guard, assignment, deadline at and penalty,
	// tender scoring), every value at its largest. It is ten times
	// CELCostLimit because the worst case puts 4 KB in each of 64 fields,
	// far more than a real contract carries: the install check refuses
	// what is hopeless even on modest values, the runtime limit stops,
	// deterministically, an admitted expression on values that make it too
	// costly. Ordinary expressions cost tens of units; a concatenation of
	// two fields at their largest ~820, a `contains` of one largest field
	// in another ~168,000, `fields == args` ~27,000; a chain of 41
	// concatenated fields (contracts_test's TestCELCostLimit) ~352,000.
	CELMaxEstimatedCost = 1_000_000

	// celCostModelVersion pins cel-go's cost model revision (estimation
	// and runtime tracking alike). Version 1 is the first whose estimates
	// are documented as upper bounds of the runtime charge.
	celCostModelVersion = 1
	// celMaxScalarStringBytes bounds string(x) of an int, uint, double or
	// bool ("-9223372036854775808" is 20 bytes; a double in its shortest
	// form fewer than 32).
	celMaxScalarStringBytes = 32
)

// celEnvKind names one of the engine's environments.
type celEnvKind uint8

const (
	celContract celEnvKind = iota // guards, assignments, deadlines, penalties
	celScore                      // tender scoring
)

// celProg is a compiled expression with what its checks need again.
type celProg struct {
	prog cel.Program
	out  *cel.Type
	cost cost.CostEstimate
}

type celKey struct {
	kind celEnvKind
	src  string
}

type celEngine struct {
	env       *cel.Env // contracts
	scoreEnv  *cel.Env // tender scoring
	charges   *celCharges
	costLimit uint64
	maxBytes  int

	mu    sync.Mutex
	progs map[celKey]*celProg // bounded by maxCachedProgs
}

const maxCachedProgs = 4096

// The cost model: cel-go's standard one, pinned, with
//   - the aggregate sizing strategy: a list or map counts as the sum of
//     what it holds (1 + its entries' sizes), at estimate and at run time,
//     so that `fields == args`, which compares every entry, costs what it
//     compares, not one unit per entry;
//   - size() of a string charged like a traversal (a tenth of its length:
//     it counts code points), where cel-go charges 1;
//   - calls whose overload the checker could not choose (an operand of
//     type dyn, e.g. `fields.a + fields.b`) charged as the overload that
//     runs (celCharges), where cel-go charges 1 whatever the operands: a
//     concatenation of dyn strings would otherwise cost nothing at run
//     time, however long.
var (
	celSizing      = cost.AggregateSizingStrategy()
	celModelOpts   = []cost.ModelOption{cost.ModelVersion(celCostModelVersion), cost.WithSizingStrategy(celSizing)}
	celExtraModels = []cost.OverloadModel{
		cost.Overload(overloads.SizeString, cost.EvalCost(cost.Scale(cost.Arg(0), cost.StringTraversalCostFactor))),
		cost.MemberOverload(overloads.SizeStringInst, cost.EvalCost(cost.Scale(cost.Target(), cost.StringTraversalCostFactor))),
	}
)

func newCELEngine(costLimit uint64, maxBytes int) (*celEngine, error) {
	excluded := []string{
		overloads.TypeConvertTimestamp, overloads.TypeConvertDuration, overloads.TypeConvertDouble,
		overloads.TimeGetFullYear, overloads.TimeGetMonth, overloads.TimeGetDayOfYear, overloads.TimeGetDate,
		overloads.TimeGetDayOfMonth, overloads.TimeGetDayOfWeek, overloads.TimeGetHours, overloads.TimeGetMinutes,
		overloads.TimeGetSeconds, overloads.TimeGetMilliseconds,
		overloads.Matches,
	}
	build := func(vars ...cel.EnvOption) (*cel.Env, error) {
		subset := celenv.NewLibrarySubset().AddIncludedMacros("has")
		for _, f := range excluded {
			subset.AddExcludedFunctions(celenv.NewFunction(f))
		}
		opts := append([]cel.EnvOption{
			cel.StdLib(cel.StdLibSubset(subset)),
			cel.ParserExpressionSizeLimit(maxBytes),
			cel.ParserRecursionLimit(64),
			cel.CostModelVersion(celCostModelVersion),
			cel.CostSizingStrategy(celSizing),
			cel.CostModel(celExtraModels...),
		}, vars...)
		return cel.NewCustomEnv(opts...)
	}
	fieldsType := cel.MapType(cel.StringType, cel.DynType)
	env, err := build(
		cel.Variable("fields", fieldsType),
		cel.Variable("args", fieldsType),
		cel.Variable("milestones", cel.MapType(cel.StringType, cel.MapType(cel.StringType, cel.BoolType))),
		cel.Variable("now", cel.IntType),
		cel.Variable("state", cel.StringType),
	)
	if err != nil {
		return nil, fmt.Errorf("build CEL environment: %w", err)
	}
	scoreEnv, err := build(
		cel.Variable("price", cel.IntType),
		cel.Variable("fields", fieldsType),
	)
	if err != nil {
		return nil, fmt.Errorf("build CEL scoring environment: %w", err)
	}
	return &celEngine{
		env: env, scoreEnv: scoreEnv, charges: newCELCharges(env), costLimit: costLimit, maxBytes: maxBytes,
		progs: make(map[celKey]*celProg),
	}, nil
}

// celCharges prices, at run time, the calls the checker left to dynamic
// dispatch (overload id ""): the call is charged by the model of the
// overload whose parameter types the arguments have — the one that runs,
// since a function's overloads do not overlap (but for size(x) and
// x.size(), which are charged alike) — and so as the estimate, which
// covered every candidate overload, allowed for. Both environments share
// the standard library, so one table serves them.
type celCharges struct {
	overloads map[string][]*decls.OverloadDecl // function → overloads
	trackers  map[string]cost.FunctionTracker  // overload id → charge
}

func newCELCharges(env *cel.Env) *celCharges {
	c := &celCharges{
		overloads: make(map[string][]*decls.OverloadDecl),
		trackers:  cost.StandardOverloadTrackersWithOptions(celModelOpts...),
	}
	for _, m := range celExtraModels {
		c.trackers[m.ID] = m.FunctionTrackerWithOptions(celModelOpts...)
	}
	for name, f := range env.Functions() {
		c.overloads[name] = f.OverloadDecls()
	}
	return c
}

func (c *celCharges) CallCost(function, overloadID string, args []ref.Val, result ref.Val) *uint64 {
	if overloadID != "" {
		return nil // cel-go's model for the overload the checker chose
	}
	for _, o := range c.overloads[function] {
		ts := o.ArgTypes()
		if len(ts) != len(args) {
			continue
		}
		match := true
		for i, t := range ts {
			match = match && t.IsAssignableRuntimeType(args[i])
		}
		if !match {
			continue
		}
		if t, ok := c.trackers[o.ID()]; ok {
			return t(args, result)
		}
		return nil
	}
	return nil
}

// celSizes is the cost estimator's knowledge of the variables: the
// largest values a transaction and a template can put in them (checkFields,
// checkListLen, checkID). Every contract field is set by CreateContract or
// by a `set` assignment, both checked by checkFields, and its name is one
// of the template's field names; arguments and bid fields are checked by
// checkFields too. The values of fields and args are scalars (fieldValue).
type celSizes struct{}

func sizeRange(lo, hi uint64) *cost.SizeEstimate { return &cost.SizeEstimate{Min: lo, Max: hi} }

func (celSizes) EstimateSize(n cost.AstNode) *cost.SizeEstimate {
	p := n.Path()
	if len(p) == 0 {
		return nil
	}
	key := sizeRange(1, MaxIDBytes)
	switch p[0] {
	case "fields", "args": // map(string, dyn) of scalars
		val := sizeRange(1, MaxFieldBytes)
		switch {
		case len(p) == 1:
			return &cost.SizeEstimate{Min: 0, Max: MaxListLen, Key: key, Elem: val}
		case len(p) == 2 && p[1] == "@keys":
			return key
		case len(p) == 2:
			return val
		}
	case "milestones": // map(string, map(string, bool)), inner keys "submitted", "accepted"
		inner := &cost.SizeEstimate{Min: 2, Max: 2, Key: sizeRange(8, 9), Elem: sizeRange(1, 1)}
		switch {
		case len(p) == 1:
			return &cost.SizeEstimate{Min: 0, Max: MaxListLen, Key: key, Elem: inner}
		case len(p) == 2 && p[1] == "@keys":
			return key
		case len(p) == 2:
			return inner
		case len(p) == 3 && p[2] == "@keys":
			return inner.Key
		case len(p) == 3:
			return inner.Elem
		}
	case "state":
		if len(p) == 1 {
			return key
		}
	}
	return nil
}

// EstimateCallCost bounds the strings that conversions of scalars make,
// which the standard model leaves unknown (and so unbounded for what uses
// them); their charge is the runtime's for any call it does not model: 1.
func (celSizes) EstimateCallCost(_, overloadID string, _ *cost.AstNode, _ []cost.AstNode) *cost.CallEstimate {
	switch overloadID {
	case overloads.IntToString, overloads.UintToString, overloads.DoubleToString, overloads.BoolToString:
		return cost.NewCallEstimate(cost.FixedCostEstimate(cost.CallCost), sizeRange(1, celMaxScalarStringBytes))
	}
	return nil
}

func (c *celEngine) envOf(kind celEnvKind) *cel.Env {
	if kind == celScore {
		return c.scoreEnv
	}
	return c.env
}

var (
	// errCELCost is wrapped by the install-time refusal of an expression
	// whose estimated cost is over CELMaxEstimatedCost.
	errCELCost = errors.New("estimated cost")
	// errCELStopped is wrapped by the error of an evaluation stopped at
	// the runtime cost limit.
	errCELStopped = errors.New("evaluation stopped")
)

// program returns src's program in the environment kind, compiling it
// (parse, type check, cost estimate) unless cached. It does not judge the
// estimate or the type: compile does that at install, and evaluation takes
// any program that compiles, so what a node decides never depends on
// whether an expression was cached.
func (c *celEngine) program(kind celEnvKind, src string) (p *celProg, err error) {
	if len(src) > c.maxBytes {
		return nil, fmt.Errorf("expression is %d bytes, limit %d", len(src), c.maxBytes)
	}
	k := celKey{kind, src}
	c.mu.Lock()
	p, ok := c.progs[k]
	c.mu.Unlock()
	if ok {
		return p, nil
	}
	defer func() {
		// cel-go must not crash a node on a template; a panic is the same on
		// every node, so refusing the expression is deterministic.
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("expression cannot be compiled: %v", r)
		}
	}()
	env := c.envOf(kind)
	ast, iss := env.Compile(src)
	if iss != nil && iss.Err() != nil {
		return nil, iss.Err()
	}
	est, err := env.EstimateCost(ast, celSizes{})
	if err != nil {
		return nil, fmt.Errorf("estimate cost: %w", err)
	}
	prog, err := env.Program(ast, cel.CostLimit(c.costLimit), cel.CostTracking(c.charges))
	if err != nil {
		return nil, err
	}
	p = &celProg{prog: prog, out: ast.OutputType(), cost: est}
	c.mu.Lock()
	if len(c.progs) >= maxCachedProgs {
		clear(c.progs) // results never depend on the cache; only speed does
	}
	c.progs[k] = p
	c.mu.Unlock()
	return p, nil
}

// check is the install-time verdict on a compiled expression: its type
// (want, or dyn checked at evaluation; nil: any) and its worst-case cost.
func (p *celProg) check(want *cel.Type) error {
	if out := p.out; want != nil && !out.IsExactType(want) && !out.IsExactType(cel.DynType) {
		return fmt.Errorf("expression has type %s, want %s", out, want)
	}
	if p.cost.Max > CELMaxEstimatedCost {
		return fmt.Errorf("%w up to %s exceeds the limit %d", errCELCost, costString(p.cost.Max), CELMaxEstimatedCost)
	}
	return nil
}

func costString(n uint64) string {
	if n == math.MaxUint64 {
		return "unbounded"
	}
	return fmt.Sprint(n)
}

// compileIn checks src for install in environment kind: it compiles, has
// type want and its worst-case estimated cost is within
// CELMaxEstimatedCost.
func (c *celEngine) compileIn(kind celEnvKind, src string, want *cel.Type) (cel.Program, error) {
	p, err := c.program(kind, src)
	if err != nil {
		return nil, err
	}
	if err := p.check(want); err != nil {
		return nil, err
	}
	return p.prog, nil
}

// compile checks a contract expression and returns its program; want is
// the required output type (dyn is accepted too, then checked at
// evaluation; nil: any type).
func (c *celEngine) compile(src string, want *cel.Type) (cel.Program, error) {
	return c.compileIn(celContract, src, want)
}

// compileBool checks a guard.
func (c *celEngine) compileBool(src string) error {
	_, err := c.compile(src, cel.BoolType)
	return err
}

// compileInt checks an int contract expression (deadline at, penalty).
func (c *celEngine) compileInt(src string) error {
	_, err := c.compile(src, cel.IntType)
	return err
}

// compileScore checks a tender's scoring expression: an int over `price`
// and `fields`.
func (c *celEngine) compileScore(src string) error {
	_, err := c.compileIn(celScore, src, cel.IntType)
	return err
}

// compileTemplateExprs checks every expression of t (guards, assignments,
// deadlines' at and penalty) at install; the error names the expression.
func (c *celEngine) compileTemplateExprs(t *pb.ContractTemplate) error {
	for _, tr := range t.GetTransitions() {
		if tr.GetGuard() != "" {
			if err := c.compileBool(tr.GetGuard()); err != nil {
				return invalid("guard of transition %s: %v", tr.GetName(), err)
			}
		}
		for _, s := range tr.GetSet() {
			if _, err := c.compile(s.GetExpr(), nil); err != nil {
				return invalid("assignment of field %s in transition %s: %v", s.GetField(), tr.GetName(), err)
			}
		}
	}
	for _, d := range t.GetDeadlines() {
		if err := c.compileInt(d.GetAt()); err != nil {
			return invalid("deadline of state %s: at: %v", d.GetState(), err)
		}
		if d.GetPenalty() != "" {
			if err := c.compileInt(d.GetPenalty()); err != nil {
				return invalid("deadline of state %s: penalty: %v", d.GetState(), err)
			}
		}
	}
	return nil
}

func (c *celEngine) evalIn(kind celEnvKind, src string, vars map[string]any) (ref.Val, error) {
	p, err := c.program(kind, src)
	if err != nil {
		return nil, err
	}
	out, _, err := p.prog.Eval(vars)
	var stop interpreter.EvalCancelledError
	if errors.As(err, &stop) && stop.Cause == interpreter.CostLimitExceeded {
		return nil, fmt.Errorf("%w: its cost passed the limit %d", errCELStopped, c.costLimit)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (c *celEngine) eval(src string, _ *cel.Type, vars map[string]any) (ref.Val, error) {
	return c.evalIn(celContract, src, vars)
}

var errNotBool = errors.New("guard did not evaluate to a bool")

func (c *celEngine) evalBool(src string, vars map[string]any) (bool, error) {
	v, err := c.eval(src, cel.BoolType, vars)
	if err != nil {
		return false, err
	}
	b, ok := v.Value().(bool)
	if !ok {
		return false, errNotBool
	}
	return b, nil
}

func (c *celEngine) evalInt(src string, vars map[string]any) (int64, error) {
	v, err := c.eval(src, cel.IntType, vars)
	if err != nil {
		return 0, err
	}
	return intOf(v)
}

// evalScore evaluates a tender's scoring expression for one bid.
func (c *celEngine) evalScore(src string, price int64, fields map[string]any) (int64, error) {
	v, err := c.evalIn(celScore, src, map[string]any{"price": price, "fields": fields})
	if err != nil {
		return 0, err
	}
	return intOf(v)
}

func intOf(v ref.Val) (int64, error) {
	n, ok := v.Value().(int64)
	if !ok {
		return 0, fmt.Errorf("expression gave %s, want int", v.Type())
	}
	return n, nil
}
