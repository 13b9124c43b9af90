package lightclient

import (
	"bytes"
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// decodeGenesis decodes a genesis document: JSON (the genesis file, as
// genesis.Unmarshal reads it: unknown fields are an error) when it starts
// with '{', else its binary encoding.
func decodeGenesis(doc []byte, g *pb.GenesisDoc) error {
	if t := bytes.TrimSpace(doc); len(t) > 0 && t[0] == '{' {
		if err := (protojson.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(t, g); err != nil {
			return fmt.Errorf("parse genesis: %w", err)
		}
		return nil
	}
	if err := proto.Unmarshal(doc, g); err != nil {
		return fmt.Errorf("genesis decodes neither as JSON nor as a GenesisDoc: %w", err)
	}
	return nil
}
