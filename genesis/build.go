package genesis

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"

	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// AddValidator appends d to doc's validators. It refuses d (and leaves doc
// unchanged) if d has problems of its own or clashes with a validator
// already there (duplicate department id, key or peer id); problems
// elsewhere in doc do not stop it, so a genesis can be built step by step.
func AddValidator(doc *pb.GenesisDoc, d *pb.Department) error {
	f := fmt.Sprintf("validators[%d]", len(doc.GetValidators()))
	trial := proto.Clone(doc).(*pb.GenesisDoc)
	trial.Validators = append(trial.Validators, d)
	if err := problemsUnder(trial, f); err != nil {
		return fmt.Errorf("add validator %q: %w", d.GetId(), err)
	}
	doc.Validators = append(doc.Validators, d)
	return nil
}

// AddIdentity appends id to doc's identities. It refuses id (and leaves
// doc unchanged) if it has problems of its own or clashes with the
// document: duplicate id or key, unknown department or record type.
func AddIdentity(doc *pb.GenesisDoc, id *pb.Identity) error {
	f := fmt.Sprintf("identities[%d]", len(doc.GetIdentities()))
	trial := proto.Clone(doc).(*pb.GenesisDoc)
	trial.Identities = append(trial.Identities, id)
	if err := problemsUnder(trial, f); err != nil {
		return fmt.Errorf("add identity %q: %w", id.GetId(), err)
	}
	doc.Identities = append(doc.Identities, id)
	return nil
}

// problemsUnder validates doc and keeps only the problems of the field
// path prefix.
func problemsUnder(doc *pb.GenesisDoc, prefix string) error {
	_, err := Validate(doc)
	ve, ok := err.(*ValidationError)
	if !ok {
		return err
	}
	var mine []Problem
	for _, p := range ve.Problems {
		if p.Field == prefix || strings.HasPrefix(p.Field, prefix+".") || strings.HasPrefix(p.Field, prefix+"[") {
			mine = append(mine, p)
		}
	}
	if len(mine) == 0 {
		return nil
	}
	return &ValidationError{Problems: mine}
}
