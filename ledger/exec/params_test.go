package exec_test

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/exec/exectest"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// TestValidateParamsBounds checks each bound of ValidateParams at its
// edge: the bound itself passes, one past it is refused with an error
// naming the parameter and the bound.
func TestValidateParamsBounds(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(p *pb.Params)
		field  string // "" when the params pass
		reason string
	}{
		{"defaults", func(p *pb.Params) {}, "", ""},
		{"propose timeout at floor", func(p *pb.Params) { p.ProposeTimeoutMs, p.HeartbeatIntervalMs = exec.MinTimeoutMs, 50 }, "", ""},
		{"propose timeout below floor", func(p *pb.Params) { p.ProposeTimeoutMs, p.HeartbeatIntervalMs = exec.MinTimeoutMs-1, 50 },
			"propose_timeout_ms", "99 is out of range [100, 600000]"},
		{"propose timeout at ceiling", func(p *pb.Params) { p.ProposeTimeoutMs, p.MaxViewTimeoutMs = exec.MaxTimeoutMs, exec.MaxTimeoutMs }, "", ""},
		{"propose timeout above ceiling", func(p *pb.Params) { p.ProposeTimeoutMs = exec.MaxTimeoutMs + 1 },
			"propose_timeout_ms", "600001 is out of range [100, 600000]"},
		{"view timeout equal to propose", func(p *pb.Params) { p.MaxViewTimeoutMs = p.ProposeTimeoutMs }, "", ""},
		{"view timeout below propose", func(p *pb.Params) { p.MaxViewTimeoutMs = p.ProposeTimeoutMs - 1 },
			"max_view_timeout_ms", "999 is below propose_timeout_ms 1000"},
		{"view timeout above ceiling", func(p *pb.Params) { p.MaxViewTimeoutMs = exec.MaxTimeoutMs + 1 },
			"max_view_timeout_ms", "600001 is out of range [100, 600000]"},
		{"view timeout overflowing a duration", func(p *pb.Params) { p.MaxViewTimeoutMs = math.MaxUint64 },
			"max_view_timeout_ms", "is out of range [100, 600000]"},
		{"heartbeat at floor", func(p *pb.Params) { p.HeartbeatIntervalMs = exec.MinHeartbeatIntervalMs }, "", ""},
		{"heartbeat below floor", func(p *pb.Params) { p.HeartbeatIntervalMs = exec.MinHeartbeatIntervalMs - 1 },
			"heartbeat_interval_ms", "9 is below the floor 10"},
		{"heartbeat just below propose", func(p *pb.Params) { p.HeartbeatIntervalMs = p.ProposeTimeoutMs - 1 }, "", ""},
		{"heartbeat at propose", func(p *pb.Params) { p.HeartbeatIntervalMs = p.ProposeTimeoutMs },
			"heartbeat_interval_ms", "1000 must be below propose_timeout_ms 1000"},
		{"tx bytes at floor", func(p *pb.Params) { p.MaxTxBytes = exec.MinMaxTxBytes }, "", ""},
		{"tx bytes of 1", func(p *pb.Params) { p.MaxTxBytes = 1 },
			"max_tx_bytes", "1 is out of range [65536, 4194304]: the largest governance transaction must fit"},
		{"tx bytes below floor", func(p *pb.Params) { p.MaxTxBytes = exec.MinMaxTxBytes - 1 },
			"max_tx_bytes", "65535 is out of range [65536, 4194304]"},
		{"tx bytes at ceiling", func(p *pb.Params) { p.MaxTxBytes = exec.MaxMaxTxBytes }, "", ""},
		{"tx bytes above ceiling", func(p *pb.Params) { p.MaxTxBytes = exec.MaxMaxTxBytes + 1 },
			"max_tx_bytes", "4194305 is out of range [65536, 4194304]"},
		{"block bytes at floor", func(p *pb.Params) { p.MaxBlockBytes = exec.MinMaxBlockBytes }, "", ""},
		{"block bytes below floor", func(p *pb.Params) { p.MaxBlockBytes = exec.MinMaxBlockBytes - 1 },
			"max_block_bytes", "1048575 is out of range [1048576, 15728640]"},
		{"block bytes at ceiling", func(p *pb.Params) { p.MaxBlockBytes = exec.MaxMaxBlockBytes }, "", ""},
		{"block bytes above ceiling", func(p *pb.Params) { p.MaxBlockBytes = exec.MaxMaxBlockBytes + 1 },
			"max_block_bytes", "15728641 is out of range [1048576, 15728640]"},
		{"block bytes equal to tx bytes", func(p *pb.Params) { p.MaxTxBytes, p.MaxBlockBytes = 2<<20, 2<<20 }, "", ""},
		{"block bytes below tx bytes", func(p *pb.Params) { p.MaxTxBytes, p.MaxBlockBytes = 2<<20, 2<<20-1 },
			"max_block_bytes", "2097151 is below max_tx_bytes 2097152"},
		{"block txs at floor", func(p *pb.Params) { p.MaxBlockTxs = exec.MinMaxBlockTxs }, "", ""},
		{"block txs below floor", func(p *pb.Params) { p.MaxBlockTxs = exec.MinMaxBlockTxs - 1 },
			"max_block_txs", "63 is out of range [64, 100000]: a block must hold a proposal and its votes"},
		{"block txs at ceiling", func(p *pb.Params) { p.MaxBlockTxs = exec.MaxMaxBlockTxs }, "", ""},
		{"block txs above an int", func(p *pb.Params) { p.MaxBlockTxs = math.MaxUint64 },
			"max_block_txs", "is out of range [64, 100000]"},
		{"change delay at floor", func(p *pb.Params) { p.ValidatorChangeDelay = exec.MinValidatorChangeDelay }, "", ""},
		{"change delay below the floor: not provable from its root block", func(p *pb.Params) { p.ValidatorChangeDelay = 2 },
			"validator_change_delay", "2 is out of range [3, 10000] blocks: a change must be provable from its root block"},
		{"change delay zero", func(p *pb.Params) { p.ValidatorChangeDelay = 0 },
			"validator_change_delay", "0 is out of range [3, 10000] blocks"},
		{"change delay at ceiling", func(p *pb.Params) { p.ValidatorChangeDelay = exec.MaxValidatorChangeDelay }, "", ""},
		{"change delay overflowing a height", func(p *pb.Params) { p.ValidatorChangeDelay = math.MaxUint64 },
			"validator_change_delay", "is out of range [3, 10000]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := exectest.DefaultParams()
			tc.mutate(p)
			err := exec.ValidateParams(p)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var pe *exec.ParamsError
			if !errors.As(err, &pe) || len(pe.Problems) != 1 {
				t.Fatalf("ValidateParams = %v, want one problem", err)
			}
			if got := pe.Problems[0]; got.Field != tc.field || !strings.Contains(got.Reason, tc.reason) {
				t.Fatalf("problem %+v, want %s: ...%s...", got, tc.field, tc.reason)
			}
			if want := "params." + tc.field + ": "; !strings.Contains(err.Error(), want) {
				t.Fatalf("error %q does not name %s", err, want)
			}
		})
	}
	// Missing params, and every problem listed at once.
	if err := exec.ValidateParams(nil); err == nil || err.Error() != "params: missing" {
		t.Fatalf("nil params: %v", err)
	}
	var pe *exec.ParamsError
	if err := exec.ValidateParams(&pb.Params{}); !errors.As(err, &pe) || len(pe.Problems) != 7 {
		t.Fatalf("zero params: want 7 problems, got %v", err)
	}
}

func paramsChange(p *pb.Params) func(*pb.SubmitProposal) {
	return func(sp *pb.SubmitProposal) { sp.Change = &pb.SubmitProposal_UpdateParams{UpdateParams: p} }
}

// TestParamsChangeRefusedAtSubmit is issue 15's failure 5: a passed change
// setting max_tx_bytes to 1 refused every later tx, the one undoing it
// included. Such a proposal is now refused when submitted: by CheckTx, so
// it never enters the mempool, and in a block, with the bound in the
// reason.
func TestParamsChangeRefusedAtSubmit(t *testing.T) {
	e := newEnv(t, 4)
	lockout := exectest.DefaultParams()
	lockout.MaxTxBytes = 1
	const want = "params.max_tx_bytes: 1 is out of range [65536, 4194304]"

	tx := e.s("d0.admin").Tx(propose("lockout", 100, paramsChange(lockout)))
	r, err := e.c.Exec.CheckTx(e.c.Store, tx)
	if err != nil {
		t.Fatal(err)
	}
	if r.Code != codeInvalid || !strings.Contains(r.Reason, want) {
		t.Fatalf("CheckTx: %v %q, want %v naming %q", r.Code, r.Reason, codeInvalid, want)
	}
	if r := e.tx(codeInvalid, tx); !strings.Contains(r.GetReason(), want) {
		t.Fatalf("in a block: %q, want %q", r.GetReason(), want)
	}
	if _, err := exec.Proposal(e.c.Store, "lockout"); !errors.Is(err, exec.ErrNotFound) {
		t.Fatalf("the refused proposal was stored: %v", err)
	}
}

// TestParamsChangeCheckedAtExecution: a params change admitted by an
// older, looser rule (written into state here as it would have been) is
// checked again when it passes, and fails with the bound instead of
// locking the chain out.
func TestParamsChangeCheckedAtExecution(t *testing.T) {
	e := newEnv(t, 4)
	lockout := exectest.DefaultParams()
	lockout.MaxTxBytes = 1
	sub := &pb.SubmitProposal{ProposalId: "old", Title: "old rule", VotingEndHeight: 100,
		Change: &pb.SubmitProposal_UpdateParams{UpdateParams: lockout}}
	e.c.Store.Apply([]exec.Change{{Key: exec.ProposalKey("old"), Value: mustMarshal(&pb.GovProposal{
		Id: "old", Title: "old rule", ProposerId: "d0.admin", ProposerDepartmentId: "d0",
		Status: pb.ProposalStatus_PROPOSAL_STATUS_VOTING, SubmittedHeight: 0, VotingEndHeight: 100, Submit: mustMarshal(sub),
	})}})
	var res *exec.BlockResult
	for _, d := range []string{"d0", "d1", "d2"} {
		res = e.block(e.s(d + ".admin").Tx(vote("old", true)))
	}
	if res.Params != nil {
		t.Fatalf("the change was applied: %v", res.Params)
	}
	p, err := exec.Proposal(e.c.Store, "old")
	if err != nil {
		t.Fatal(err)
	}
	if p.GetStatus() != pb.ProposalStatus_PROPOSAL_STATUS_FAILED || !strings.Contains(p.GetFailureReason(), "params.max_tx_bytes: 1 is out of range") {
		t.Fatalf("proposal %v %q, want FAILED naming the bound", p.GetStatus(), p.GetFailureReason())
	}
	if params, _ := exec.Params(e.c.Store); params.GetMaxTxBytes() != exectest.DefaultParams().GetMaxTxBytes() {
		t.Fatalf("params changed: %v", params)
	}
}

// maxID is an id of MaxIDBytes bytes, distinct for each i.
func maxID(prefix string, i int) string {
	return fmt.Sprintf("%s%0*d", prefix, exec.MaxIDBytes-len(prefix), i)
}

// maxGovBodies are the governance actions that can mend a chain, each with
// every field at its limit (lists full, ids and names at their byte
// limits, numbers at their widest valid values).
func maxGovBodies() map[string]*pb.TxBody {
	name := strings.Repeat("n", exec.MaxNameBytes)
	dept := maxID("d", 0)
	var addrs, depts []string
	for i := range exec.MaxListLen {
		addrs = append(addrs, "/"+strings.Repeat("a", exec.MaxNameBytes-1))
		depts = append(depts, maxID("d", i))
	}
	ceilings := &pb.Params{
		ProposeTimeoutMs: exec.MaxTimeoutMs, MaxViewTimeoutMs: exec.MaxTimeoutMs, HeartbeatIntervalMs: exec.MaxTimeoutMs - 1,
		MaxBlockBytes: exec.MaxMaxBlockBytes, MaxBlockTxs: exec.MaxMaxBlockTxs, MaxTxBytes: exec.MaxMaxTxBytes,
		ValidatorChangeDelay: exec.MaxValidatorChangeDelay,
	}
	proposal := func(change func(*pb.SubmitProposal)) *pb.TxBody {
		p := &pb.SubmitProposal{ProposalId: maxID("p", 0), Title: name, VotingEndHeight: math.MaxUint64}
		change(p)
		return &pb.TxBody{Action: &pb.TxBody_SubmitProposal{SubmitProposal: p}}
	}
	// Two votes of one validator for two blocks; signatures are Ed25519's 64 bytes.
	vote := func(hash byte) *pb.Vote {
		h := make([]byte, 32)
		h[0] = hash
		return &pb.Vote{View: math.MaxUint64, Height: math.MaxUint64, BlockHash: h, Voter: math.MaxUint32, Signature: make([]byte, 64)}
	}
	va, vb := vote(1), vote(2)
	return map[string]*pb.TxBody{
		"params change": proposal(paramsChange(ceilings)),
		"vote":          {Action: &pb.TxBody_VoteProposal{VoteProposal: &pb.VoteProposal{ProposalId: maxID("p", 0), Approve: true}}},
		"add department": proposal(func(p *pb.SubmitProposal) {
			p.Change = &pb.SubmitProposal_AddDepartment{AddDepartment: &pb.AddDepartment{
				Department: &pb.Department{Id: dept, Name: name, ConsensusKey: newPub("max-dept"), PeerId: exectest.PeerID("max-node"), Addrs: addrs},
				Admin: &pb.RegisterOfficial{IdentityId: maxID("i", 0), DepartmentId: dept, DisplayName: name,
					Roles: []pb.Role{pb.Role_ROLE_ADMIN, pb.Role_ROLE_REGISTRAR, pb.Role_ROLE_ISSUER, pb.Role_ROLE_AUDITOR}, PublicKey: newPub("max-admin")},
			}}
		}),
		"remove department": proposal(func(p *pb.SubmitProposal) {
			p.Change = &pb.SubmitProposal_RemoveDepartment{RemoveDepartment: &pb.RemoveDepartment{DepartmentId: dept}}
		}),
		"install record type": proposal(func(p *pb.SubmitProposal) {
			p.Change = &pb.SubmitProposal_InstallRecordType{InstallRecordType: &pb.RecordType{
				Id: maxID("t", 0), Name: name, CreateDepartments: depts, AmendDepartments: depts, TransferDepartments: depts, RevokeDepartments: depts,
				MaxContentBytes: exec.HardMaxTxBytes, OnChainContent: true, Transferable: true, TransferNeedsConsent: true, AccessNeedsConsent: true,
			}}
		}),
		// A rotation is proposed by the rotated department (d0, the
		// signer's, not an id at its limit: MaxIDBytes-2 bytes less).
		"rotate validator key": proposal(func(p *pb.SubmitProposal) {
			p.Change = &pb.SubmitProposal_RotateValidatorKey{RotateValidatorKey: &pb.RotateValidatorKey{DepartmentId: "d0", ConsensusKey: newPub("max-rotated")}}
		}),
		"rotate node key": proposal(func(p *pb.SubmitProposal) {
			p.Change = &pb.SubmitProposal_RotateNodeKey{RotateNodeKey: &pb.RotateNodeKey{DepartmentId: "d0", PeerId: exectest.PeerID("max-rotated-node"), Addrs: addrs}}
		}),
		"evidence": {Action: &pb.TxBody_SubmitEvidence{SubmitEvidence: &pb.SubmitEvidence{Evidence: &pb.EquivocationEvidence{VoteA: va, VoteB: vb}}}},
	}
}

// TestGovernanceTxsFitUnderTheFloor proves MinMaxTxBytes: each governance
// action that can mend the chain, with every field at its limit and in the
// widest envelope (longest chain id, signer id and memo, largest nonce),
// encodes under it; and on a chain whose every size parameter sits at its
// floor, CheckTx admits each (the bodies are valid, not just large), and a
// block holds a largest proposal with MinMaxBlockTxs-1 largest votes.
func TestGovernanceTxsFitUnderTheFloor(t *testing.T) {
	f := exectest.NewFixture(2)
	floor := exectest.DefaultParams()
	floor.MaxTxBytes, floor.MaxBlockBytes, floor.MaxBlockTxs = exec.MinMaxTxBytes, exec.MinMaxBlockBytes, exec.MinMaxBlockTxs
	f.Genesis.Params = floor
	c, err := f.NewChain(exec.DefaultConfig(exectest.ChainID))
	if err != nil {
		t.Fatal(err)
	}
	widest := func(b *pb.TxBody) []byte {
		b.ChainId = strings.Repeat("c", exec.MaxChainIDBytes)
		b.Signer = maxID("s", 0)
		b.Nonce = math.MaxUint64
		b.Memo = strings.Repeat("m", exec.MaxMemoBytes)
		return exectest.SignBody(exectest.NewKey("max"), b)
	}
	largest := 0
	for name, body := range maxGovBodies() {
		admin := f.S("d0.admin")
		r, err := c.Exec.CheckTx(c.Store, admin.Tx(body))
		if err != nil {
			t.Fatal(err)
		}
		if !r.OK() {
			t.Errorf("%s: CheckTx at the floor parameters: %v %s", name, r.Code, r.Reason)
		}
		n := len(widest(body))
		t.Logf("%s: %d bytes in the widest envelope (floor %d)", name, n, exec.MinMaxTxBytes)
		if n > exec.MinMaxTxBytes {
			t.Errorf("%s: %d bytes, over MinMaxTxBytes %d", name, n, exec.MinMaxTxBytes)
		}
		largest = max(largest, n)
	}
	txs := [][]byte{make([]byte, largest)}
	for range exec.MinMaxBlockTxs - 1 {
		txs = append(txs, widest(maxGovBodies()["vote"]))
	}
	if err := exec.CheckBlockLimits(floor, txs); err != nil {
		t.Errorf("a largest proposal and %d votes at the floor parameters: %v", len(txs)-1, err)
	}
}
