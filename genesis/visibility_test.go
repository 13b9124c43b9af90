package genesis

import (
	"errors"
	"strings"
	"testing"

	"github.com/govnode/govnode/ledger/exec"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// TestSampleRecordTypesVisibility: the local network's birth certificate
// is protected (content beside the chain, at most 2048 bytes), the land
// title and business license public; a genesis with them validates here
// and in the state machine.
func TestSampleRecordTypesVisibility(t *testing.T) {
	types := map[string]*pb.RecordType{}
	for _, rt := range SampleRecordTypes([]string{"dept0"}) {
		types[rt.GetId()] = rt
	}
	bc := types[SampleBirthCert]
	if !exec.IsProtected(bc) || bc.GetOnChainContent() || bc.GetMaxContentBytes() != 2048 || !bc.GetAccessNeedsConsent() {
		t.Fatalf("birth certificate %v", bc)
	}
	for _, id := range []string{SampleLandTitle, SampleBusinessLicense} {
		if rt := types[id]; rt.GetVisibility() != pb.ContentVisibility_CONTENT_VISIBILITY_PUBLIC || !rt.GetOnChainContent() {
			t.Fatalf("%s %v", id, rt)
		}
	}
	doc := validDoc(t)
	var depts []string
	for _, v := range doc.GetValidators() {
		depts = append(depts, v.GetId())
	}
	doc.RecordTypes = SampleRecordTypes(depts)
	doc.ContractTemplates = []*pb.ContractTemplate{SampleProcurementTemplate()}
	if warns, err := Validate(doc); err != nil || len(warns) != 0 {
		t.Fatalf("Validate: %v, warnings %v", err, warns)
	}
	ex, err := exec.New(exec.DefaultConfig(doc.GetChainId()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ex.InitGenesis(doc); err != nil {
		t.Fatalf("InitGenesis: %v", err)
	}
}

// TestValidateVisibility: a visibility the state machine refuses is a
// problem of Validate too, naming the field; exec.InitGenesis refuses the
// same documents.
func TestValidateVisibility(t *testing.T) {
	protected := pb.ContentVisibility_CONTENT_VISIBILITY_PROTECTED
	cases := []struct {
		name   string
		rt     *pb.RecordType
		field  string
		reason string
	}{
		{"unknown visibility", &pb.RecordType{Visibility: 7}, "record_types[1].visibility", "7 is not a known visibility"},
		{"protected with on-chain content", &pb.RecordType{Visibility: protected, OnChainContent: true, MaxContentBytes: 1024},
			"record_types[1].on_chain_content", "set on a protected type: its content is kept beside the chain"},
		{"protected without a content bound", &pb.RecordType{Visibility: protected}, "record_types[1].max_content_bytes", "a protected type needs it in 1..4194304"},
		{"protected over the hard limit", &pb.RecordType{Visibility: protected, MaxContentBytes: exec.HardMaxTxBytes + 1},
			"record_types[1].max_content_bytes", "a protected type needs it in 1..4194304"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc := stateMachineDoc(t)
			tc.rt.Id, tc.rt.Name, tc.rt.CreateDepartments = "birth_certificate", "Birth certificate", []string{"dept1"}
			doc.RecordTypes[1] = tc.rt
			_, err := Validate(doc)
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Validate = %v, want a *ValidationError", err)
			}
			found := false
			for _, p := range ve.Problems {
				found = found || p.Field == tc.field && strings.Contains(p.Reason, tc.reason)
			}
			if !found {
				t.Fatalf("no problem %s: ...%s...; got:\n%v", tc.field, tc.reason, err)
			}
			ex, err := exec.New(exec.DefaultConfig(doc.GetChainId()))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ex.InitGenesis(doc); !errors.Is(err, exec.ErrInvalidGenesis) || !strings.Contains(err.Error(), "record type birth_certificate") {
				t.Fatalf("InitGenesis: %v", err)
			}
		})
	}
	// Public, unspecified and a well-formed protected type are fine, for
	// both.
	for _, v := range []pb.ContentVisibility{pb.ContentVisibility_CONTENT_VISIBILITY_UNSPECIFIED, pb.ContentVisibility_CONTENT_VISIBILITY_PUBLIC, protected} {
		doc := stateMachineDoc(t)
		doc.RecordTypes[1].Visibility, doc.RecordTypes[1].MaxContentBytes = v, 2048
		if _, err := Validate(doc); err != nil {
			t.Fatalf("%v: %v", v, err)
		}
		ex, err := exec.New(exec.DefaultConfig(doc.GetChainId()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ex.InitGenesis(doc); err != nil {
			t.Fatalf("%v: InitGenesis: %v", v, err)
		}
	}
}

// stateMachineDoc is validDoc with the names the state machine requires
// and Validate does not.
func stateMachineDoc(t *testing.T) *pb.GenesisDoc {
	doc := validDoc(t)
	doc.RecordTypes[1].Name = "Birth certificate"
	doc.ContractTemplates = []*pb.ContractTemplate{SampleProcurementTemplate()}
	return doc
}
