package main

// Queries of money (ARCHITECTURE.md §5, "Budgets and payments"):
// budgets and accounts have no call of their own in the API; their state
// keys name them exactly (exec.BudgetKey, AccountKey), so they are read
// through QueryState and, with --prove, proven like every other state
// value. A contract's view adds its money and its next deadlines. The
// views list every field, zero values included, so scripts can rely on
// them.

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"cel.dev/cel-go/cel"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/ledger/exec"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// queryStateValue reads key (with a proof when asked); value is nil when
// the key is absent.
func queryStateValue(ctx context.Context, n *nodeConn, what string, key []byte, prove bool) (*pb.QueryStateResponse, []byte, error) {
	res, err := n.sdk.QueryState(ctx, &pb.QueryStateRequest{Key: key, Prove: prove})
	if err != nil {
		return nil, nil, rpcError("query "+what, n, err)
	}
	if !res.GetFound() {
		return res, nil, nil
	}
	value := res.GetValue()
	if value == nil {
		value = []byte{}
	}
	return res, value, nil
}

// printStateProven prints v, after verifying with --prove that p proves
// value at key (value nil: the key is absent).
func (c *cli) printStateProven(cmd *cobra.Command, n *nodeConn, cf *clientFlags, pf *proveFlags, v viewV, p *pb.StateProof, key, value []byte) error {
	if !pf.prove {
		return c.printView(cmd.OutOrStdout(), v)
	}
	pr, err := c.proveState(cmd, n, cf, pf, p, key, value)
	if err != nil {
		return err
	}
	return c.printWithProof(cmd, v, pr)
}

// proveState verifies that p proves value at key (nil: absent) against
// the anchor of --prove.
func (c *cli) proveState(cmd *cobra.Command, n *nodeConn, cf *clientFlags, pf *proveFlags, p *pb.StateProof, key, value []byte) (*proofResult, error) {
	anchor, err := c.anchor(cmd, pf)
	if err != nil {
		return nil, err
	}
	ctx, cancel := cf.callCtx(cmd)
	defer cancel()
	st, err := n.status(ctx)
	if err != nil {
		return nil, err
	}
	return verifyStateProof(p, key, value, st, anchor)
}

// --------------------------------------------------------------- budgets

func newQueryBudgetCmd(c *cli) *cobra.Command {
	cf, pf := &clientFlags{}, &proveFlags{}
	cmd := c.queryCommand("budget DEPARTMENT", "Show a department's budget: balance and funded, in minor units", cobra.ExactArgs(1), cf,
		func(cmd *cobra.Command, n *nodeConn, args []string) error {
			dept := args[0]
			key := exec.BudgetKey(dept)
			ctx, cancel := cf.callCtx(cmd)
			defer cancel()
			m, value, err := queryStateValue(ctx, n, "budget of "+dept, key, pf.prove)
			if err != nil {
				return err
			}
			b := &pb.Budget{DepartmentId: dept}
			if value != nil {
				if err := proto.Unmarshal(value, b); err != nil {
					return fmt.Errorf("budget of %s: the node returned a value that does not decode: %w", termText(dept), err)
				}
			} else if err := mustExist(ctx, n, "department", dept, exec.DepartmentKey(dept), &pb.Department{}, m.GetHeight()); err != nil {
				return err // a budget is absent until first funded: its balance is 0
			}
			v := viewV{}.with("height", m.GetHeight()).with("found", value != nil).with("budget", budgetView(b))
			return c.printStateProven(cmd, n, cf, pf, v, m.GetProof(), key, value)
		})
	addProveFlags(cmd, pf)
	return cmd
}

func budgetView(b *pb.Budget) viewV {
	return viewV{}.with("department_id", b.GetDepartmentId()).with("balance", b.GetBalance()).
		with("funded", b.GetFunded()).with("updated_height", b.GetUpdatedHeight())
}

// mustExist refuses the query of a budget or account whose owner is not on
// chain (key absent): the zero balance shown otherwise would be a lie.
func mustExist(ctx context.Context, n *nodeConn, what, id string, key []byte, m proto.Message, height uint64) error {
	found, err := n.stateMsg(ctx, what+" "+id, key, m)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("no %s %s on chain (height %d)", what, termText(id), height)
	}
	return nil
}

// -------------------------------------------------------------- accounts

func newQueryAccountCmd(c *cli) *cobra.Command {
	cf, pf := &clientFlags{}, &proveFlags{}
	cmd := c.queryCommand("account ID", "Show an identity's payment account (what contracts paid it), in minor units", cobra.ExactArgs(1), cf,
		func(cmd *cobra.Command, n *nodeConn, args []string) error {
			id := args[0]
			key := exec.AccountKey(id)
			ctx, cancel := cf.callCtx(cmd)
			defer cancel()
			m, value, err := queryStateValue(ctx, n, "account of "+id, key, pf.prove)
			if err != nil {
				return err
			}
			a := &pb.Account{IdentityId: id}
			if value != nil {
				if err := proto.Unmarshal(value, a); err != nil {
					return fmt.Errorf("account of %s: the node returned a value that does not decode: %w", termText(id), err)
				}
			} else if err := mustExist(ctx, n, "identity", id, exec.IdentityKey(id), &pb.Identity{}, m.GetHeight()); err != nil {
				return err // an account is absent until first paid: its balance is 0
			}
			v := viewV{}.with("height", m.GetHeight()).with("found", value != nil).with("account", accountView(a))
			return c.printStateProven(cmd, n, cf, pf, v, m.GetProof(), key, value)
		})
	addProveFlags(cmd, pf)
	return cmd
}

func accountView(a *pb.Account) viewV {
	return viewV{}.with("identity_id", a.GetIdentityId()).with("balance", a.GetBalance()).with("updated_height", a.GetUpdatedHeight())
}

// timeText is unix seconds in RFC 3339 (UTC).
func timeText(sec int64) string { return time.Unix(sec, 0).UTC().Format(time.RFC3339) }

// ------------------------------------------------------------- contracts

// contractMoneyView is what a contract of a money template moved: its
// amount, what its escrow holds, the budget it came from, and every
// payment in order (all zero for a contract without money).
func contractMoneyView(v viewV, c *pb.Contract) viewV {
	pays := []any{}
	for _, p := range c.GetPayments() {
		pays = append(pays, viewV{}.with("kind", p.GetKind()).with("amount", p.GetAmount()).with("from", p.GetFrom()).
			with("to", p.GetTo()).with("milestone_id", p.GetMilestoneId()).with("reason", p.GetReason()).with("height", p.GetHeight()))
	}
	return v.with("amount", c.GetAmount()).with("escrow", c.GetEscrow()).
		with("buyer_department_id", c.GetBuyerDepartmentId()).with("tender_id", c.GetTenderId()).with("payments", pays)
}

// contractDeadlinesView lists the deadlines of the contract's current
// state in its template t: the expression, the transition it fires, the
// penalty, and the due time (due_unix, due_time) as the state machine
// computed it when the state was entered: the expression over the
// contract's fields with now the time of that block. When the expression
// cannot be computed here, due_error says why. A final state has none.
func contractDeadlinesView(c *pb.Contract, t *pb.ContractTemplate) []any {
	out := []any{}
	if t == nil || slices.Contains(t.GetFinalStates(), c.GetState()) {
		return out
	}
	var enteredMs int64
	if h := c.GetHistory(); len(h) > 0 {
		enteredMs = h[len(h)-1].GetTimeUnixMs()
	}
	for _, d := range t.GetDeadlines() {
		if d.GetState() != c.GetState() {
			continue
		}
		v := viewV{}.with("state", d.GetState()).with("at", d.GetAt()).with("transition", d.GetTransition()).with("penalty", d.GetPenalty())
		at, err := evalDeadline(d.GetAt(), c, floorDiv(enteredMs, 1000))
		if err != nil {
			v = v.with("due_error", err.Error())
		} else {
			v = v.with("due_unix", at).with("due_time", timeText(at))
		}
		out = append(out, v)
	}
	return out
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// deadlineEnv declares the variables of a contract's expressions as the
// state machine does (ledger/exec/cel.go): fields, args, milestones, now,
// state. It only computes a due time for display; the chain's own is in
// its deadline index.
var deadlineEnv = sync.OnceValues(func() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("fields", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("args", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("milestones", cel.MapType(cel.StringType, cel.MapType(cel.StringType, cel.BoolType))),
		cel.Variable("now", cel.IntType),
		cel.Variable("state", cel.StringType),
	)
})

// evalDeadline computes a deadline's due time in unix seconds (negative
// clamped to 0, as the state machine schedules it), under the state
// machine's default cost limit.
func evalDeadline(src string, c *pb.Contract, nowSec int64) (int64, error) {
	env, err := deadlineEnv()
	if err != nil {
		return 0, err
	}
	ast, iss := env.Compile(src)
	if iss != nil && iss.Err() != nil {
		return 0, iss.Err()
	}
	prg, err := env.Program(ast, cel.CostLimit(exec.DefaultCELCostLimit))
	if err != nil {
		return 0, err
	}
	fields := map[string]any{}
	for _, f := range c.GetFields() {
		switch v := f.GetValue().(type) {
		case *pb.ContractField_StringValue:
			fields[f.GetName()] = v.StringValue
		case *pb.ContractField_IntValue:
			fields[f.GetName()] = v.IntValue
		case *pb.ContractField_BoolValue:
			fields[f.GetName()] = v.BoolValue
		case *pb.ContractField_BytesValue:
			fields[f.GetName()] = v.BytesValue
		}
	}
	ms := map[string]any{}
	for _, m := range c.GetMilestones() {
		ms[m.GetId()] = map[string]bool{"submitted": m.GetSubmitted(), "accepted": m.GetAccepted()}
	}
	out, _, err := prg.Eval(map[string]any{"fields": fields, "args": map[string]any{}, "milestones": ms, "now": nowSec, "state": c.GetState()})
	if err != nil {
		return 0, err
	}
	n, ok := out.Value().(int64)
	if !ok {
		return 0, fmt.Errorf("expression gave %s, want int", out.Type())
	}
	return max(n, 0), nil
}
