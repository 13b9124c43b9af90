package exec

import pb "github.com/govnode/govnode/proto/govnode/v1"

// TenderTemplateID is the id of TenderTemplate.
const TenderTemplateID = "tender.v1"

// TenderTemplate returns a public-procurement template that a genesis (or a
// governance proposal) can install. A fresh value is returned each call.
//
// Roles: buyer (the contracting department's official) and supplier.
// Fields: amount (int, minor currency units), currency (string),
// delivery_deadline (int, unix seconds), grace_seconds (int), and
// completed_at / terminated_at, set by the transitions.
//
//		draft ──sign by both──▶ active ──deliver──▶ delivered ──complete──▶ completed
//		  │                       │
//		  └─withdraw (buyer)──▶ withdrawn
//		                          └─terminate_for_breach──▶ terminated
//
//	  - deliver (supplier or buyer): milestone goods_delivered accepted.
//	  - complete (buyer): milestone final_inspection accepted.
//	  - terminate_for_breach (buyer): the delivery deadline passed and the
//	    goods were not accepted; it also fires automatically at the first
//	    block after delivery_deadline + grace_seconds.
//	  - withdraw (buyer): before the supplier signs.
//
// Money (ARCHITECTURE.md §5, "Budgets and payments"): amount is the
// contract amount; the buyer's department budget funds the escrow when the
// contract becomes active; accepting goods_delivered pays the supplier 70%
// of it and final_inspection 30%; the automatic breach deadline first
// returns a penalty of a tenth of the amount (capped by the escrow) to the
// buyer's budget; reaching completed, terminated or withdrawn refunds what
// the escrow still holds.
func TenderTemplate() *pb.ContractTemplate {
	return &pb.ContractTemplate{
		Id:           TenderTemplateID,
		Name:         "Public procurement tender",
		Roles:        []string{"buyer", "supplier"},
		FieldNames:   []string{"amount", "currency", "delivery_deadline", "grace_seconds", "completed_at", "terminated_at"},
		DraftState:   "draft",
		ActiveState:  "active",
		FinalStates:  []string{"completed", "terminated", "withdrawn"},
		AmountField:  "amount",
		BuyerRole:    "buyer",
		SupplierRole: "supplier",
		Transitions: []*pb.Transition{
			{Name: "withdraw", From: []string{"draft"}, To: "withdrawn", Roles: []string{"buyer"}},
			{
				Name: "deliver", From: []string{"active"}, To: "delivered", Roles: []string{"supplier", "buyer"},
				Guard: "milestones.goods_delivered.accepted",
			},
			{
				Name: "complete", From: []string{"delivered"}, To: "completed", Roles: []string{"buyer"},
				Guard: "milestones.final_inspection.accepted",
				Set:   []*pb.FieldAssignment{{Field: "completed_at", Expr: "now"}},
			},
			{
				Name: "terminate_for_breach", From: []string{"active"}, To: "terminated", Roles: []string{"buyer"},
				Guard: "now > fields.delivery_deadline && !milestones.goods_delivered.accepted",
				Set:   []*pb.FieldAssignment{{Field: "terminated_at", Expr: "now"}},
			},
		},
		Deadlines: []*pb.Deadline{
			{
				State: "active", At: "fields.delivery_deadline + fields.grace_seconds", Transition: "terminate_for_breach",
				Penalty: "fields.amount / 10",
			},
		},
		Milestones: []*pb.MilestoneSpec{
			{Id: "goods_delivered", Description: "goods delivered to the buyer's site", SubmitterRole: "supplier", AcceptorRole: "buyer", State: "active", PaymentBps: 7000},
			{Id: "final_inspection", Description: "final inspection report", SubmitterRole: "supplier", AcceptorRole: "buyer", State: "delivered", PaymentBps: 3000},
		},
	}
}
