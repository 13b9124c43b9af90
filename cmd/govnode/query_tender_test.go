package main

import (
	"errors"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/state"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

func TestQueryTenderJSON(t *testing.T) {
	f := newFakeChain("c1")
	addr := f.serve(t, 0)
	f.put(exec.TenderKey("t1"), &pb.Tender{
		Id: "t1", BuyerDepartmentId: "dept0", BuyerId: "dept0-official", Title: "Chairs", Requirements: "400 chairs", Budget: 500000,
		BidDeadline: 1900000000, RevealDeadline: 1900086400, Scoring: "lowest_price", TemplateId: exec.TenderTemplateID,
		ContractFields: []*pb.ContractField{{Name: "currency", Value: &pb.ContractField_StringValue{StringValue: "EUR"}}},
		Status:         pb.TenderStatus_TENDER_STATUS_AWARDED,
		Bids: []*pb.Bid{
			{BidderId: "company0", Commitment: []byte{0xaa, 0xbb}, Height: 5},
			{BidderId: "company1", Commitment: []byte{0xcc}, Height: 6, Revealed: true, Price: 420000, Salt: []byte{1, 2},
				Fields: []*pb.ContractField{{Name: "delivery_days", Value: &pb.ContractField_IntValue{IntValue: 30}}}, Score: -420000},
			{BidderId: "company2", Commitment: []byte{0xdd}, Height: 7, Revealed: true, Price: 600000, VoidReason: "price 600000 over the budget 500000"},
		},
		AwardedBidderId: "company1", ContractId: "t1-contract", PublishedHeight: 3, DecidedHeight: 12,
	})
	m := jsonObject(t, mustRun(t, nil, "query", "tender", "t1", "--node", addr, "--output", "json").out)
	wantKeys(t, "tender answer", m, "height", "tender")
	tv := m["tender"].(map[string]any)
	wantKeys(t, "tender", tv, "id", "status", "title", "requirements", "buyer_department_id", "buyer_id", "budget",
		"bid_deadline", "bid_deadline_time", "reveal_deadline", "reveal_deadline_time", "scoring", "template_id", "contract_fields",
		"bids", "leading_bidder", "awarded_bidder_id", "contract_id", "published_height", "decided_height")
	if tv["status"] != "TENDER_STATUS_AWARDED" || tv["budget"] != float64(500000) || tv["bid_deadline"] != float64(1900000000) ||
		tv["bid_deadline_time"] != "2030-03-17T17:46:40Z" || tv["awarded_bidder_id"] != "company1" || tv["leading_bidder"] != "company1" || tv["contract_id"] != "t1-contract" {
		t.Errorf("tender json: %v", tv)
	}
	bids := tv["bids"].([]any)
	if len(bids) != 3 {
		t.Fatalf("bids: %v", bids)
	}
	// Sealed: only its commitment.
	wantKeys(t, "sealed bid", bids[0], "bidder_id", "commitment", "height", "revealed")
	if b := bids[0].(map[string]any); b["commitment"] != "aabb" || b["revealed"] != false {
		t.Errorf("sealed bid: %v", b)
	}
	revealed := []string{"bidder_id", "commitment", "height", "revealed", "price", "fields", "salt", "valid", "void_reason", "score"}
	wantKeys(t, "revealed bid", bids[1], revealed...)
	wantKeys(t, "void bid", bids[2], revealed...)
	if b := bids[1].(map[string]any); b["price"] != float64(420000) || b["valid"] != true || b["void_reason"] != "" || b["score"] != float64(-420000) ||
		b["fields"].([]any)[0].(map[string]any)["int_value"] != float64(30) {
		t.Errorf("revealed bid: %v", b)
	}
	if b := bids[2].(map[string]any); b["valid"] != false || !strings.Contains(b["void_reason"].(string), "over the budget") {
		t.Errorf("void bid: %v", b)
	}
}

func TestQueryTenderProve(t *testing.T) {
	tender := &pb.Tender{Id: "t1", Status: pb.TenderStatus_TENDER_STATUS_OPEN, Budget: 500}
	tb, err := proto.MarshalOptions{Deterministic: true}.Marshal(tender)
	if err != nil {
		t.Fatal(err)
	}
	w := newProofWorld(t, map[string][]byte{string(exec.TenderKey("t1")): tb})
	f := newFakeChain(w.chainID)
	f.status = &pb.StatusResponse{ChainId: w.chainID, Height: 4}
	hide := false
	f.state = func(key []byte, prove bool) (*pb.QueryStateResponse, error) {
		v, err := w.tree.Get(1, key)
		if errors.Is(err, state.ErrNotFound) {
			v, err = nil, nil
		}
		if err != nil {
			return nil, connect.NewError(connect.CodeInternal, err)
		}
		if hide {
			v = nil
		}
		res := &pb.QueryStateResponse{Found: v != nil, Value: v, Height: 4}
		if prove {
			res.Proof = w.prove(t, key, 3)
		}
		return res, nil
	}
	addr := f.serve(t, 0)
	m := jsonObject(t, mustRun(t, nil, "query", "tender", "t1", "--prove", "--genesis", w.genesis, "--node", addr, "--output", "json").out)
	if p := m["proof"].(map[string]any); p["verified"] != true || p["present"] != true || m["tender"].(map[string]any)["status"] != "TENDER_STATUS_OPEN" {
		t.Errorf("proven tender: %v", m)
	}
	// A tender truly absent: its absence is proven.
	if r := run(t, nil, "query", "tender", "t2", "--prove", "--genesis", w.genesis, "--node", addr); r.err == nil ||
		!strings.Contains(r.err.Error(), "no tender t2 on chain (height 4); its absence is proven against block 3") {
		t.Errorf("absent tender: %v", r.err)
	}
	// Without --prove an absent tender is simply not found.
	if r := run(t, nil, "query", "tender", "t2", "--node", addr); r.err == nil || !strings.Contains(r.err.Error(), "not_found: no tender t2 on chain (height 4)") {
		t.Errorf("absent tender: %v", r.err)
	}
	// A node hiding a tender is caught.
	hide = true
	if r := run(t, nil, "query", "tender", "t1", "--prove", "--genesis", w.genesis, "--node", addr); r.err == nil || !strings.Contains(r.err.Error(), "proof NOT verified") {
		t.Errorf("hidden tender: %v", r.err)
	}
}
