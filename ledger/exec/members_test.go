package exec_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/exec/exectest"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

func rotateKey(dept string, k *pb.PublicKey) func(*pb.SubmitProposal) {
	return func(p *pb.SubmitProposal) {
		p.Change = &pb.SubmitProposal_RotateValidatorKey{RotateValidatorKey: &pb.RotateValidatorKey{DepartmentId: dept, ConsensusKey: k}}
	}
}

func rotateNode(dept, peerID string, addrs ...string) func(*pb.SubmitProposal) {
	return func(p *pb.SubmitProposal) {
		p.Change = &pb.SubmitProposal_RotateNodeKey{RotateNodeKey: &pb.RotateNodeKey{DepartmentId: dept, PeerId: peerID, Addrs: addrs}}
	}
}

func faultModel(m string) func(*pb.SubmitProposal) {
	return func(p *pb.SubmitProposal) {
		p.Change = &pb.SubmitProposal_FaultModel{FaultModel: &pb.SetFaultModel{FaultModel: m}}
	}
}

func addObserver(peerID, name string) func(*pb.SubmitProposal) {
	return func(p *pb.SubmitProposal) {
		p.Change = &pb.SubmitProposal_AddObserver{AddObserver: &pb.AddObserver{PeerId: peerID, Name: name}}
	}
}

func removeObserver(peerID string) func(*pb.SubmitProposal) {
	return func(p *pb.SubmitProposal) {
		p.Change = &pb.SubmitProposal_RemoveObserver{RemoveObserver: &pb.RemoveObserver{PeerId: peerID}}
	}
}

// pass submits body by proposer's admin and has the departments voters
// approve it, one vote a block; it returns the block of the last vote.
func (e *env) pass(proposer string, body *pb.TxBody, voters ...string) *exec.BlockResult {
	e.t.Helper()
	e.ok(proposer+".admin", body)
	id := body.GetSubmitProposal().GetProposalId()
	var res *exec.BlockResult
	for _, d := range voters {
		res = e.block(e.s(d + ".admin").Tx(vote(id, true)))
		if c := res.Results[0].GetCode(); c != codeOK {
			e.t.Fatalf("vote of %s on %s: %v %s", d, id, c, res.Results[0].GetReason())
		}
	}
	if p := proposalOf(e.t, e, id); p.GetStatus() != pb.ProposalStatus_PROPOSAL_STATUS_PASSED {
		e.t.Fatalf("proposal %s: %v %q", id, p.GetStatus(), p.GetFailureReason())
	}
	return res
}

// govEvents returns the governance events of res, by action.
func govEvents(res *exec.BlockResult) map[string]*pb.GovernanceEvent {
	out := map[string]*pb.GovernanceEvent{}
	for _, ev := range res.Events {
		if g := ev.GetGovernance(); g != nil {
			out[g.GetAction()] = g
		}
	}
	return out
}

func validatorIn(vs *pb.ValidatorSet, id string) *pb.Department {
	for _, v := range vs.GetValidators() {
		if v.GetId() == id {
			return v
		}
	}
	return nil
}

// sameValidators: a and b name the same validators in the same order with
// the same keys and peer ids, except department except.
func sameValidators(t *testing.T, a, b *pb.ValidatorSet, except string) {
	t.Helper()
	if len(a.GetValidators()) != len(b.GetValidators()) {
		t.Fatalf("%d validators, then %d", len(a.GetValidators()), len(b.GetValidators()))
	}
	for i, v := range a.GetValidators() {
		w := b.GetValidators()[i]
		if v.GetId() != w.GetId() {
			t.Fatalf("validator %d: %s, then %s", i, v.GetId(), w.GetId())
		}
		if v.GetId() != except && (!crypto.PublicKeyEqual(v.GetConsensusKey(), w.GetConsensusKey()) || v.GetPeerId() != w.GetPeerId()) {
			t.Fatalf("validator %s changed: %v, then %v", v.GetId(), v, w)
		}
	}
}

func TestRotateValidatorKey(t *testing.T) {
	// Byzantine, with d1's validator identity (as `govnode genesis` and
	// `govnode testnet` write it).
	f := exectest.NewFixture(4)
	f.Genesis.Identities = append(f.Genesis.Identities, exec.ValidatorIdentity(f.Genesis.Validators[1]))
	c, err := f.NewChain(exec.DefaultConfig(exectest.ChainID))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, f: f, c: c}
	before, _ := exec.ValidatorSet(e.c.Store)
	oldKey := validatorIn(before, "d1").GetConsensusKey()
	newKey := newPub("consensus/d1/2")
	res := e.pass("d1", propose("rot", 100, rotateKey("d1", newKey)), "d0", "d2", "d3")
	h := e.c.Height
	vs := res.ValidatorUpdate
	if vs == nil || vs.GetEffectiveHeight() != h+delay || vs.GetFaultModel() != "byzantine" {
		t.Fatalf("validator update %v, want effective at %d", vs, h+delay)
	}
	if !crypto.PublicKeyEqual(validatorIn(vs, "d1").GetConsensusKey(), newKey) {
		t.Fatalf("d1's key in the new set: %v", validatorIn(vs, "d1"))
	}
	sameValidators(t, before, vs, "d1")
	if validatorIn(vs, "d1").GetPeerId() != validatorIn(before, "d1").GetPeerId() {
		t.Fatal("the peer id changed with the consensus key")
	}
	// In state: the decided set, the old set until its effective height,
	// and the Department record at once.
	if got, _ := exec.ValidatorSet(e.c.Store); !crypto.PublicKeyEqual(validatorIn(got, "d1").GetConsensusKey(), newKey) {
		t.Fatalf("decided set %v", got)
	}
	if old, _ := exec.ValidatorSetAt(e.c.Store, h+1); !crypto.PublicKeyEqual(validatorIn(old, "d1").GetConsensusKey(), oldKey) {
		t.Fatalf("set at h+1 %v", old)
	}
	if d, err := exec.Department(e.c.Store, "d1"); err != nil || !crypto.PublicKeyEqual(d.GetConsensusKey(), newKey) {
		t.Fatalf("department record %v %v", d, err)
	}
	// The department's validator identity, which signs its node's
	// evidence, takes the new key too; the old one is in its history.
	idn, err := exec.Identity(e.c.Store, exec.ValidatorIdentityID("d1"))
	if err != nil || !crypto.PublicKeyEqual(idn.GetPublicKey(), newKey) || len(idn.GetKeyHistory()) != 1 ||
		!crypto.PublicKeyEqual(idn.GetKeyHistory()[0].GetPublicKey(), oldKey) || idn.GetUpdatedHeight() != h {
		t.Fatalf("validator identity after the rotation: %v %v", idn, err)
	}
	ev := govEvents(res)
	if g := ev["validator_key_rotated"]; g == nil || g.GetDepartmentId() != "d1" || g.GetEffectiveHeight() != h+delay {
		t.Fatalf("events %v", ev)
	}
	if ev["validator_set_changed"] == nil || ev["executed"] == nil {
		t.Fatalf("events %v", ev)
	}

	e.block()
	e.block() // the rotation is in force
	for _, tc := range []struct {
		name, signer string
		body         *pb.TxBody
		code         pb.ResultCode
		reason       string
	}{
		{"another department's key", "d0", propose("x", 100, rotateKey("d1", newPub("consensus/d1/3"))), codeUnauthorized, "only an admin of department d1"},
		{"no key", "d1", propose("x", 100, rotateKey("d1", nil)), codeInvalid, "new consensus key"},
		{"bad key", "d1", propose("x", 100, rotateKey("d1", &pb.PublicKey{Scheme: pb.KeyScheme_KEY_SCHEME_ED25519, Key: []byte{1, 2, 3}})), codeInvalid, "new consensus key"},
		{"small-order key", "d1", propose("x", 100, rotateKey("d1", &pb.PublicKey{Scheme: pb.KeyScheme_KEY_SCHEME_ED25519, Key: make([]byte, 32)})), codeInvalid, "new consensus key"},
		{"bad department id", "d1", propose("x", 100, rotateKey("", newPub("k"))), codeInvalid, "department id"},
		{"its key already", "d1", propose("x", 100, rotateKey("d1", newKey)), codeConflict, "key already"},
		{"another validator's key", "d1", propose("x", 100, rotateKey("d1", validatorIn(before, "d0").GetConsensusKey())), codeConflict, "already used by d0"},
		{"its retired key", "d1", propose("x", 100, rotateKey("d1", oldKey)), codeConflict, "never reused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			if tc.code == codeUnauthorized {
				if r := e.check(e.c.Store, tc.signer+".admin", tc.body); r.Code != tc.code {
					t.Fatalf("CheckTx: %v %q", r.Code, r.Reason)
				}
				tc.body.Nonce = 0
			}
			r := e.refuse(tc.signer+".admin", tc.code, tc.body)
			if !strings.Contains(r.GetReason(), tc.reason) {
				t.Fatalf("reason %q, want %q", r.GetReason(), tc.reason)
			}
		})
	}
	e.t = t
	// A retired key is not reused by a new department either.
	add := propose("add", 100, addDept("d4"))
	add.GetSubmitProposal().GetAddDepartment().Department.ConsensusKey = oldKey
	if r := e.refuse("d0.admin", codeConflict, add); !strings.Contains(r.GetReason(), "already used by d1") {
		t.Fatalf("add with a retired key: %q", r.GetReason())
	}
}

// Rotations are validator-set changes: the quorum-safety rules count a
// rotated key as one validator differing, and each is checked again at
// execution, where a refusal changes nothing.
func TestRotationsAtExecution(t *testing.T) {
	e := newEnv(t, 4) // byzantine: one validator may differ per step
	k := newPub("consensus/shared")
	e.ok("d1.admin", propose("r1", 100, rotateKey("d1", k)))
	e.ok("d2.admin", propose("r2", 100, rotateKey("d2", k)))
	e.ok("d3.admin", propose("r3", 100, rotateKey("d3", newPub("consensus/d3/2"))))
	var txs [][]byte
	for _, d := range []string{"d0", "d1"} {
		txs = append(txs, e.s(d+".admin").Tx(vote("r2", true)), e.s(d+".admin").Tx(vote("r3", true)))
	}
	e.block(txs...)
	for _, d := range []string{"d0", "d2", "d3"} {
		e.ok(d+".admin", vote("r1", true))
	}
	decided, _ := exec.ValidatorSet(e.c.Store)
	// Both pass in the next block, within r1's delay, and fail there.
	res := e.block(e.s("d2.admin").Tx(vote("r2", true)), e.s("d2.admin").Tx(vote("r3", true)))
	checkFailedChangedNothing(t, e, res, decided, "d2")
	// r2 takes d1's new key.
	if p := proposalOf(t, e, "r2"); p.GetStatus() != pb.ProposalStatus_PROPOSAL_STATUS_FAILED || !strings.Contains(p.GetFailureReason(), "already used by d1") {
		t.Fatalf("r2: %v %q", p.GetStatus(), p.GetFailureReason())
	}
	// r3 would make d1 and d3 differ from the set in force.
	p := proposalOf(t, e, "r3")
	want := "quorum safety, one-step change: rotate-validator-key d3 would make 2 validators differ from the 4 in force (~d1, ~d3)"
	if p.GetStatus() != pb.ProposalStatus_PROPOSAL_STATUS_FAILED || !strings.HasPrefix(p.GetFailureReason(), want) {
		t.Fatalf("r3: %v %q", p.GetStatus(), p.GetFailureReason())
	}
	if d, _ := exec.Department(e.c.Store, "d3"); crypto.PublicKeyEqual(d.GetConsensusKey(), newPub("consensus/d3/2")) {
		t.Fatal("a failed rotation changed the department record")
	}
}

func TestRotateNodeKey(t *testing.T) {
	e := newEnv(t, 4)
	before, _ := exec.ValidatorSet(e.c.Store)
	pid := exectest.PeerID("node/d2/2")
	addr := "/ip4/10.0.0.2/tcp/26656/p2p/" + pid
	res := e.pass("d2", propose("rn", 100, rotateNode("d2", pid, addr)), "d0", "d1", "d3")
	h := e.c.Height
	vs := res.ValidatorUpdate
	if vs == nil || vs.GetEffectiveHeight() != h+delay {
		t.Fatalf("validator update %v", vs)
	}
	v := validatorIn(vs, "d2")
	if v.GetPeerId() != pid || !slices.Equal(v.GetAddrs(), []string{addr}) || !crypto.PublicKeyEqual(v.GetConsensusKey(), validatorIn(before, "d2").GetConsensusKey()) {
		t.Fatalf("d2 in the new set: %v", v)
	}
	sameValidators(t, before, vs, "d2")
	if d, _ := exec.Department(e.c.Store, "d2"); d.GetPeerId() != pid {
		t.Fatalf("department record %v", d)
	}
	if g := govEvents(res)["node_key_rotated"]; g == nil || g.GetPeerId() != pid || g.GetDepartmentId() != "d2" || g.GetEffectiveHeight() != h+delay {
		t.Fatalf("events %v", govEvents(res))
	}
	// A node-key rotation changes no consensus key: another may follow
	// within the delay under the byzantine one-step rule.
	pid3 := exectest.PeerID("node/d3/2")
	e.pass("d3", propose("rn3", 100, rotateNode("d3", pid3)), "d0", "d1", "d2")
	// d3's old peer id is still in force for d3 until then.
	r := e.refuse("d2.admin", codeConflict, propose("x", 100, rotateNode("d2", validatorIn(before, "d3").GetPeerId(), "/ip4/10.0.0.9/tcp/1")))
	if !strings.Contains(r.GetReason(), "department d3's validator node") {
		t.Fatalf("d3's peer id in force: %q", r.GetReason())
	}

	other := exectest.PeerID("node/elsewhere")
	for _, tc := range []struct {
		name   string
		body   *pb.TxBody
		code   pb.ResultCode
		reason string
	}{
		{"not a peer id", propose("x", 100, rotateNode("d2", "not-a-peer")), codeInvalid, "not a libp2p peer id"},
		{"empty peer id", propose("x", 100, rotateNode("d2", "")), codeInvalid, "new peer id is required"},
		{"its peer id already", propose("x", 100, rotateNode("d2", pid)), codeConflict, "peer id already"},
		{"another validator's peer id", propose("x", 100, rotateNode("d2", validatorIn(before, "d0").GetPeerId())), codeConflict, "department d0's validator node"},
		{"addr of another peer", propose("x", 100, rotateNode("d2", other, "/ip4/10.0.0.2/tcp/1/p2p/"+pid)), codeInvalid, "names peer"},
		{"addr not a multiaddr", propose("x", 100, rotateNode("d2", other, "10.0.0.2:26656")), codeInvalid, "not a multiaddr"},
		{"kept addrs name the old peer", propose("x", 100, rotateNode("d2", other)), codeInvalid, "give the new addrs"},
		{"another department", propose("x", 100, rotateNode("d0", other)), codeUnauthorized, "only an admin of department d0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			r := e.refuse("d2.admin", tc.code, tc.body)
			if !strings.Contains(r.GetReason(), tc.reason) {
				t.Fatalf("reason %q, want %q", r.GetReason(), tc.reason)
			}
		})
	}
}

func TestFaultModelSwitch(t *testing.T) {
	e := newEnv(t, 4) // byzantine
	before, _ := exec.ValidatorSet(e.c.Store)
	res := e.pass("d0", propose("crash", 100, faultModel("crash")), "d1", "d2", "d3")
	h := e.c.Height
	vs := res.ValidatorUpdate
	if vs == nil || vs.GetFaultModel() != "crash" || vs.GetEffectiveHeight() != h+delay {
		t.Fatalf("validator update %v", vs)
	}
	sameValidators(t, before, vs, "")
	if g := govEvents(res)["fault_model_changed"]; g == nil || g.GetEffectiveHeight() != h+delay {
		t.Fatalf("events %v", govEvents(res))
	}
	if old, _ := exec.ValidatorSetAt(e.c.Store, h+1); old.GetFaultModel() != "byzantine" {
		t.Fatalf("model at h+1: %s", old.GetFaultModel())
	}
	for _, tc := range []struct {
		name, model string
		code        pb.ResultCode
		reason      string
	}{
		{"unknown model", "raft", codeInvalid, `want "crash" or "byzantine"`},
		{"empty", "", codeInvalid, "fault model"},
		{"the decided model", "crash", codeConflict, "is crash already"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			r := e.refuse("d0.admin", tc.code, propose("x", 100, faultModel(tc.model)))
			if !strings.Contains(r.GetReason(), tc.reason) {
				t.Fatalf("reason %q, want %q", r.GetReason(), tc.reason)
			}
		})
	}
	e.t = t
	e.block()
	e.block() // crash in force
	// Crash allows 3 validators; a set of 3 may not turn byzantine.
	e.pass("d0", propose("rm3", 100, removeDept("d3")), "d0", "d1", "d2")
	e.block()
	e.block()
	body := propose("byz", 100, faultModel("byzantine"))
	want := "quorum safety, minimum size: fault-model byzantine would leave 3 validators; byzantine mode needs at least 4"
	if r := e.check(e.c.Store, "d0.admin", body); r.Code != codeConflict || r.Reason != want {
		t.Fatalf("CheckTx: %v %q", r.Code, r.Reason)
	}
	body.Nonce = 0
	if r := e.refuse("d0.admin", codeConflict, body); r.GetReason() != want {
		t.Fatalf("in a block: %q", r.GetReason())
	}
	// Grown back to 4, it may.
	e.pass("d0", propose("add4", 100, addDept("d4")), "d0", "d1", "d2")
	e.block()
	e.block()
	res = e.pass("d0", propose("byz2", 100, faultModel("byzantine")), "d1", "d2", "d4")
	if vs := res.ValidatorUpdate; vs.GetFaultModel() != "byzantine" || len(vs.GetValidators()) != 4 {
		t.Fatalf("validator update %v", vs)
	}
}

// The live-quorum rule (the node's) does not count a rotated validator as
// live: its new key has signed nothing yet.
func TestLiveQuorumOfRotation(t *testing.T) {
	e := newEnv(t, 4)
	sub := propose("rot", 100, rotateKey("d1", newPub("consensus/d1/2"))).GetSubmitProposal()
	c, ok, err := exec.ProposedSetChange(e.c.Store, e.c.Height+1, sub)
	if err != nil || !ok {
		t.Fatalf("proposed change: %v %v", ok, err)
	}
	all := map[string]bool{"d0": true, "d1": true, "d2": true, "d3": true}
	if err := exec.CheckLiveQuorum(c, all, "test"); err != nil {
		t.Fatalf("all live: %v", err)
	}
	// d3 down: d0, d2 live under their keys, d1 under its old one: 2 < 3.
	err = exec.CheckLiveQuorum(c, map[string]bool{"d0": true, "d1": true, "d2": true}, "test")
	if err == nil || !strings.Contains(err.Error(), "only 2 of them are live now (d0, d2;") {
		t.Fatalf("d3 down: %v", err)
	}
	// A fault-model switch is a set change for the node's check too.
	c, ok, err = exec.ProposedSetChange(e.c.Store, e.c.Height+1, propose("fm", 100, faultModel("crash")).GetSubmitProposal())
	if err != nil || !ok || c.Next.GetFaultModel() != "crash" || len(c.Next.GetValidators()) != 4 {
		t.Fatalf("fault-model change %v %v %v", c, ok, err)
	}
	// An observer is not.
	if _, ok, err := exec.ProposedSetChange(e.c.Store, e.c.Height+1, propose("o", 100, addObserver(exectest.PeerID("obs"), "")).GetSubmitProposal()); ok || err != nil {
		t.Fatalf("observer as a set change: %v %v", ok, err)
	}
}

func TestObservers(t *testing.T) {
	e := newEnv(t, 4)
	if obs, err := exec.Observers(e.c.Store); err != nil || len(obs) != 0 {
		t.Fatalf("observers at genesis: %v %v", obs, err)
	}
	o1, o2 := exectest.PeerID("observer/1"), exectest.PeerID("observer/2")
	res := e.pass("d0", propose("o1", 100, addObserver(o1, "audit office")), "d0", "d1", "d2")
	if res.ValidatorUpdate != nil {
		t.Fatalf("an observer changed the validator set: %v", res.ValidatorUpdate)
	}
	if g := govEvents(res)["observer_added"]; g == nil || g.GetPeerId() != o1 {
		t.Fatalf("events %v", govEvents(res))
	}
	e.pass("d1", propose("o2", 100, addObserver(o2, "")), "d0", "d1", "d2")
	want := []string{o1, o2}
	slices.Sort(want)
	if obs, err := exec.Observers(e.c.Store); err != nil || !slices.Equal(obs, want) {
		t.Fatalf("observers %v %v, want %v", obs, err, want)
	}
	if o, err := exec.Observer(e.c.Store, o1); err != nil || o.GetName() != "audit office" || o.GetProposalId() != "o1" {
		t.Fatalf("observer %v %v", o, err)
	}
	vs, _ := exec.ValidatorSet(e.c.Store)
	for _, tc := range []struct {
		name   string
		body   *pb.TxBody
		code   pb.ResultCode
		reason string
	}{
		{"listed already", propose("x", 100, addObserver(o1, "")), codeExists, "listed already"},
		{"a validator's node", propose("x", 100, addObserver(validatorIn(vs, "d3").GetPeerId(), "")), codeConflict, "department d3's validator node"},
		{"not a peer id", propose("x", 100, addObserver("observer-1", "")), codeInvalid, "not a libp2p peer id"},
		{"long name", propose("x", 100, addObserver(exectest.PeerID("observer/3"), strings.Repeat("n", exec.MaxNameBytes+1))), codeTooLarge, "observer name"},
		{"remove unlisted", propose("x", 100, removeObserver(exectest.PeerID("observer/3"))), codeNotFound, "not listed"},
		{"remove bad id", propose("x", 100, removeObserver("")), codeInvalid, "observer peer id is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			r := e.refuse("d0.admin", tc.code, tc.body)
			if !strings.Contains(r.GetReason(), tc.reason) {
				t.Fatalf("reason %q, want %q", r.GetReason(), tc.reason)
			}
		})
	}
	e.t = t
	res = e.pass("d2", propose("rm", 100, removeObserver(o1)), "d0", "d1", "d2")
	if g := govEvents(res)["observer_removed"]; g == nil || g.GetPeerId() != o1 {
		t.Fatalf("events %v", govEvents(res))
	}
	if obs, _ := exec.Observers(e.c.Store); !slices.Equal(obs, []string{o2}) {
		t.Fatalf("observers after removal %v", obs)
	}
}

// An added department's node must have a valid peer id, not another
// validator's.
func TestAddDepartmentPeerID(t *testing.T) {
	e := newEnv(t, 4)
	vs, _ := exec.ValidatorSet(e.c.Store)
	for _, tc := range []struct {
		name   string
		edit   func(d *pb.Department)
		code   pb.ResultCode
		reason string
	}{
		{"no peer id", func(d *pb.Department) { d.PeerId = "" }, codeInvalid, "peer id is required"},
		{"not a peer id", func(d *pb.Department) { d.PeerId = "peer-d4" }, codeInvalid, "not a libp2p peer id"},
		{"another validator's", func(d *pb.Department) { d.PeerId = validatorIn(vs, "d1").GetPeerId() }, codeConflict, "department d1's validator node"},
		{"addr of another peer", func(d *pb.Department) {
			d.Addrs = []string{"/ip4/1.2.3.4/tcp/1/p2p/" + validatorIn(vs, "d1").GetPeerId()}
		}, codeInvalid, "names peer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			body := propose("x", 100, addDept("d4"))
			tc.edit(body.GetSubmitProposal().GetAddDepartment().Department)
			r := e.refuse("d0.admin", tc.code, body)
			if !strings.Contains(r.GetReason(), tc.reason) {
				t.Fatalf("reason %q, want %q", r.GetReason(), tc.reason)
			}
		})
	}
}
