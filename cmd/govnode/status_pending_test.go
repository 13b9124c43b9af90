package main

import (
	"strings"
	"testing"

	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// `govnode status` shows the set in force as validators (the fixed JSON
// form scripts read) and the decided changes not in force yet with their
// activation heights.
func TestStatusPendingValidatorSets(t *testing.T) {
	cur := &pb.ValidatorSet{FaultModel: "crash", EffectiveHeight: 1, Validators: []*pb.Department{
		{Id: "dept0", PeerId: "p0"}, {Id: "dept1", PeerId: "p1"}, {Id: "dept2", PeerId: "p2"}}}
	add := &pb.ValidatorSet{FaultModel: "crash", EffectiveHeight: 52, Validators: []*pb.Department{
		{Id: "dept0", PeerId: "p0"}, {Id: "dept1", PeerId: "p1"}, {Id: "dept2", PeerId: "p2"}, {Id: "dept3", PeerId: "p3"}}}
	byz := &pb.ValidatorSet{FaultModel: "byzantine", EffectiveHeight: 60, Validators: []*pb.Department{
		{Id: "dept0", PeerId: "p0"}, {Id: "dept1", PeerId: "p1"}, {Id: "dept3", PeerId: "p3"}, {Id: "dept4", PeerId: "p4"}}}
	f := newFakeChain("c1")
	f.status = &pb.StatusResponse{ChainId: "c1", Height: 45, FaultModel: "crash", Validators: cur, PendingValidatorSets: []*pb.ValidatorSet{add, byz}}
	addr := f.serve(t, 0)

	m := jsonObject(t, mustRun(t, nil, "status", "--node", addr, "--output", "json").out)
	if m["fault_model"] != "crash" {
		t.Errorf("fault_model %v", m["fault_model"])
	}
	var ids []string
	for _, v := range m["validators"].(map[string]any)["validators"].([]any) {
		ids = append(ids, v.(map[string]any)["id"].(string))
	}
	if strings.Join(ids, ",") != "dept0,dept1,dept2" {
		t.Errorf("validators.validators[].id = %v, want the set in force", ids)
	}
	pending, _ := m["pending_validator_sets"].([]any)
	if len(pending) != 2 {
		t.Fatalf("pending_validator_sets: %v", m["pending_validator_sets"])
	}
	p0 := pending[0].(map[string]any)
	if h := p0["effective_height"]; h != float64(52) && h != "52" {
		t.Errorf("pending[0].effective_height = %v (%T)", h, h)
	}
	if n := len(p0["validators"].([]any)); n != 4 {
		t.Errorf("pending[0] has %d validators", n)
	}

	txt := mustRun(t, nil, "status", "--node", addr).out
	for _, want := range []string{
		"validators    3\n",
		"pending set   4 validators (crash faults) in force from height 52: adds dept3\n",
		"pending set   4 validators (byzantine faults) in force from height 60: adds dept3, adds dept4, removes dept2, switches to byzantine\n",
		"  3  dept4        p4\n",
	} {
		if !strings.Contains(txt, want) {
			t.Errorf("status text lacks %q:\n%s", want, txt)
		}
	}
	// No pending change: no pending line.
	f.status.PendingValidatorSets = nil
	if txt := mustRun(t, nil, "status", "--node", addr).out; strings.Contains(txt, "pending set") {
		t.Errorf("status text without a pending change:\n%s", txt)
	}
}
