package exec

import (
	"errors"
	"fmt"
	"sync"

	"cel.dev/cel-go/cel"
	celenv "cel.dev/cel-go/common/env"
	"cel.dev/cel-go/common/overloads"
	"cel.dev/cel-go/common/types/ref"
)

// CEL in contracts. Determinism rules:
//   - the environment declares only `fields`, `args` (map(string, dyn)),
//     `milestones` (map(string, map(string, bool)) with keys "submitted" and
//     "accepted"), `now` (int, block time in unix seconds) and `state`;
//   - comprehension macros (all, exists, exists_one, map, filter) are
//     removed, since they could iterate a Go map in random order; `has` is
//     kept;
//   - timestamp, duration, their accessors (time-zone data) and double()
//     are removed from the standard library;
//   - every evaluation runs under a cost limit, and CEL's cost is computed
//     from the evaluation itself, so a limit trips on every node alike.
//
// Expressions are compiled when a template is installed (refused if they do
// not compile or have the wrong type) and compiled programs are cached by
// source text, which is safe because the environment never changes.

type celEngine struct {
	env       *cel.Env
	costLimit uint64
	maxBytes  int

	mu    sync.Mutex
	progs map[string]cel.Program // source → program; bounded by maxCachedProgs
}

const maxCachedProgs = 4096

func newCELEngine(costLimit uint64, maxBytes int) (*celEngine, error) {
	timeFns := []string{
		overloads.TypeConvertTimestamp, overloads.TypeConvertDuration, overloads.TypeConvertDouble,
		overloads.TimeGetFullYear, overloads.TimeGetMonth, overloads.TimeGetDayOfYear, overloads.TimeGetDate,
		overloads.TimeGetDayOfMonth, overloads.TimeGetDayOfWeek, overloads.TimeGetHours, overloads.TimeGetMinutes,
		overloads.TimeGetSeconds, overloads.TimeGetMilliseconds,
	}
	subset := celenv.NewLibrarySubset().AddIncludedMacros("has")
	for _, f := range timeFns {
		subset.AddExcludedFunctions(celenv.NewFunction(f))
	}
	env, err := cel.NewCustomEnv(
		cel.StdLib(cel.StdLibSubset(subset)),
		cel.Variable("fields", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("args", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("milestones", cel.MapType(cel.StringType, cel.MapType(cel.StringType, cel.BoolType))),
		cel.Variable("now", cel.IntType),
		cel.Variable("state", cel.StringType),
		cel.ParserExpressionSizeLimit(maxBytes),
		cel.ParserRecursionLimit(64),
	)
	if err != nil {
		return nil, fmt.Errorf("build CEL environment: %w", err)
	}
	return &celEngine{env: env, costLimit: costLimit, maxBytes: maxBytes, progs: make(map[string]cel.Program)}, nil
}

// compile checks src and returns its program; want is the required output
// type (dyn is accepted too, then checked at evaluation).
func (c *celEngine) compile(src string, want *cel.Type) (cel.Program, error) {
	if len(src) > c.maxBytes {
		return nil, fmt.Errorf("expression is %d bytes, limit %d", len(src), c.maxBytes)
	}
	c.mu.Lock()
	p, ok := c.progs[src]
	c.mu.Unlock()
	if ok {
		return p, nil
	}
	ast, iss := c.env.Compile(src)
	if iss != nil && iss.Err() != nil {
		return nil, iss.Err()
	}
	if out := ast.OutputType(); want != nil && !out.IsExactType(want) && !out.IsExactType(cel.DynType) {
		return nil, fmt.Errorf("expression has type %s, want %s", out, want)
	}
	p, err := c.env.Program(ast, cel.CostLimit(c.costLimit))
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.progs) >= maxCachedProgs {
		clear(c.progs) // results never depend on the cache; only speed does
	}
	c.progs[src] = p
	c.mu.Unlock()
	return p, nil
}

func (c *celEngine) eval(src string, want *cel.Type, vars map[string]any) (ref.Val, error) {
	p, err := c.compile(src, want)
	if err != nil {
		return nil, err
	}
	out, _, err := p.Eval(vars)
	if err != nil {
		return nil, err
	}
	return out, nil
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
	n, ok := v.Value().(int64)
	if !ok {
		return 0, fmt.Errorf("expression gave %s, want int", v.Type())
	}
	return n, nil
}
