package genesis

import pb "github.com/govnode/govnode/proto/govnode/v1"

// Record type and template ids of the sample content below.
const (
	SampleLandTitle       = "land_title"
	SampleBirthCert       = "birth_certificate"
	SampleBusinessLicense = "business_license"
	SampleProcurement     = "procurement"
)

// SampleRecordTypes are the record types of a local network (`govnode
// testnet`, `start --dev`, tests): a public, transferable land title
// needing the holder's consent, a protected birth certificate (its content
// kept beside the chain, read by entitled callers only, erasable;
// ARCHITECTURE.md §5, "Who can read what") whose access needs the
// subject's grant, a public business license. Every listed department may issue every type,
// so a benchmark can send a realistic mix through any node.
func SampleRecordTypes(depts []string) []*pb.RecordType {
	return []*pb.RecordType{
		{
			Id: SampleLandTitle, Name: "Land title",
			CreateDepartments: depts, AmendDepartments: depts, TransferDepartments: depts, RevokeDepartments: depts,
			MaxContentBytes: 4096, OnChainContent: true, Transferable: true, TransferNeedsConsent: true,
			Visibility: pb.ContentVisibility_CONTENT_VISIBILITY_PUBLIC,
		},
		{
			Id: SampleBirthCert, Name: "Birth certificate",
			CreateDepartments: depts, AmendDepartments: depts, RevokeDepartments: depts,
			MaxContentBytes: 2048, AccessNeedsConsent: true,
			Visibility: pb.ContentVisibility_CONTENT_VISIBILITY_PROTECTED,
		},
		{
			Id: SampleBusinessLicense, Name: "Business license",
			CreateDepartments: depts, AmendDepartments: depts, RevokeDepartments: depts,
			MaxContentBytes: 2048, OnChainContent: true,
			Visibility: pb.ContentVisibility_CONTENT_VISIBILITY_PUBLIC,
		},
	}
}

// SampleProcurementTemplate is a small procurement template: created in
// draft, active once buyer and supplier have signed, then delivered and
// accepted, or cancelled. It has no guards, so it needs no CEL environment.
func SampleProcurementTemplate() *pb.ContractTemplate {
	return &pb.ContractTemplate{
		Id: SampleProcurement, Name: "Procurement",
		Roles:       []string{"buyer", "supplier"},
		FieldNames:  []string{"amount", "item"},
		DraftState:  "draft",
		ActiveState: "active",
		FinalStates: []string{"completed", "cancelled"},
		Transitions: []*pb.Transition{
			{Name: "deliver", From: []string{"active"}, To: "delivered", Roles: []string{"supplier"}},
			{Name: "accept", From: []string{"delivered"}, To: "completed", Roles: []string{"buyer"}},
			{Name: "cancel", From: []string{"draft", "active"}, To: "cancelled", Roles: []string{"buyer"}},
		},
		Milestones: []*pb.MilestoneSpec{
			{Id: "delivery", Description: "goods delivered", SubmitterRole: "supplier", AcceptorRole: "buyer", State: "active"},
		},
	}
}
