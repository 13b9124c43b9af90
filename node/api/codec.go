package api

// The API's JSON (ARCHITECTURE.md §6, "Encodings"): Connect's own JSON
// codec discards fields it does not know, so a misspelled field
// ("wait_for_comit") was ignored and the request ran without it. The
// node's codec refuses it with invalid_argument naming the field; the
// rest is protojson, as Connect's.

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// strictJSON is a connect.Codec for JSON that refuses unknown fields.
type strictJSON struct{ name string }

func (c strictJSON) Name() string { return c.name }

func (c strictJSON) Marshal(m any) ([]byte, error) {
	pm, ok := m.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("%T is not a protobuf message", m)
	}
	return protojson.MarshalOptions{}.Marshal(pm)
}

func (c strictJSON) Unmarshal(b []byte, m any) error {
	pm, ok := m.(proto.Message)
	if !ok {
		return fmt.Errorf("%T is not a protobuf message", m)
	}
	if len(b) == 0 {
		return errors.New("zero-length payload is not a valid JSON object")
	}
	if err := (protojson.UnmarshalOptions{}).Unmarshal(b, pm); err != nil {
		return fmt.Errorf("%w (field names are the .proto's, e.g. tx_hash or txHash; bytes are base64, and 32-byte hashes may be given as 64 hex digits)", err)
	}
	return nil
}

// strictJSONCodecs are the handler options that replace Connect's JSON
// codecs (both names it answers to) with strictJSON.
func strictJSONCodecs() []connect.HandlerOption {
	return []connect.HandlerOption{
		connect.WithCodec(strictJSON{"json"}),
		connect.WithCodec(strictJSON{"json; charset=utf-8"}),
	}
}

// hashArg is a 32-byte hash from a request's bytes field. In JSON, bytes
// are base64; a caller who gives the 64 hex digits the CLI, the logs and
// the API's own messages print has them read as base64 into 48 bytes,
// which re-encode to exactly those digits: such a hash is taken as hex.
// Anything else of the wrong length is refused naming both forms.
func hashArg(field string, b []byte) ([]byte, error) {
	if len(b) == 32 {
		return b, nil
	}
	if len(b) == 48 {
		if h, err := hex.DecodeString(base64.StdEncoding.EncodeToString(b)); err == nil {
			return h, nil
		}
	}
	return nil, invalidArg("%s must be a 32-byte hash, got %d bytes: in JSON give it as 64 hex digits or as 44 base64 characters", field, len(b))
}
