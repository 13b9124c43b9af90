package genesis

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/consensus"
	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// The fault models: consensus.Crash and consensus.Byzantine, by the names
// a genesis document writes.
const (
	FaultCrash     = string(consensus.Crash)
	FaultByzantine = string(consensus.Byzantine)
)

// ErrUnknownFaultModel: a fault model other than FaultCrash or FaultByzantine.
var ErrUnknownFaultModel = errors.New("unknown fault model")

// Quorum is consensus.Quorum, the one quorum rule, for a genesis fault
// model name. It returns 0 for an unknown fault model or n < 1.
func Quorum(faultModel string, n int) int {
	if _, err := ParseFaultModel(faultModel); err != nil || n < 1 {
		return 0
	}
	return consensus.Quorum(consensus.FaultModel(faultModel), n)
}

// MaxFaults is consensus.MaxFaulty, the number of faulty validators of n
// the network survives, for a genesis fault model name. It returns 0 for
// an unknown fault model or n < 1.
func MaxFaults(faultModel string, n int) int {
	if _, err := ParseFaultModel(faultModel); err != nil || n < 1 {
		return 0
	}
	return consensus.MaxFaulty(consensus.FaultModel(faultModel), n)
}

// ParseFaultModel checks s is a fault model.
func ParseFaultModel(s string) (string, error) {
	switch s {
	case FaultCrash, FaultByzantine:
		return s, nil
	default:
		return "", fmt.Errorf("%w %q (want %q or %q)", ErrUnknownFaultModel, s, FaultCrash, FaultByzantine)
	}
}

// DefaultParams are the chain parameters of a new genesis: timeouts fit a
// consortium on one national network; blocks up to 4 MiB with up to 5000
// transactions of up to 64 KiB.
func DefaultParams() *pb.Params {
	return &pb.Params{
		ProposeTimeoutMs:     1000,
		MaxViewTimeoutMs:     30000,
		HeartbeatIntervalMs:  250,
		MaxBlockBytes:        4 << 20,
		MaxBlockTxs:          5000,
		MaxTxBytes:           64 << 10,
		ValidatorChangeDelay: 10,
	}
}

// New returns a genesis document with no members yet: the chain id, the
// fault model, genesisTime (in UTC, RFC 3339) and DefaultParams.
func New(chainID, faultModel string, genesisTime time.Time) *pb.GenesisDoc {
	return &pb.GenesisDoc{
		ChainId:     chainID,
		GenesisTime: genesisTime.UTC().Format(time.RFC3339),
		FaultModel:  faultModel,
		Params:      DefaultParams(),
	}
}

// Marshal encodes doc as indented JSON with proto field names. protojson
// deliberately varies its whitespace between runs; the result is passed
// through json.Indent so the same document is always the same bytes.
func Marshal(doc *pb.GenesisDoc) ([]byte, error) {
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  ", UseProtoNames: true}.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("marshal genesis: %w", err)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return nil, fmt.Errorf("marshal genesis: %w", err)
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// Unmarshal decodes a JSON genesis document; unknown fields are an error.
// It does not Validate.
func Unmarshal(data []byte) (*pb.GenesisDoc, error) {
	doc := new(pb.GenesisDoc)
	if err := (protojson.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(data, doc); err != nil {
		return nil, fmt.Errorf("parse genesis: %w", err)
	}
	return doc, nil
}

// Load reads and decodes the genesis file at path. It does not Validate.
func Load(path string) (*pb.GenesisDoc, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load genesis: %w", err)
	}
	doc, err := Unmarshal(data)
	if err != nil {
		return nil, fmt.Errorf("load genesis %s: %w", path, err)
	}
	return doc, nil
}

// ErrExists: Save would replace an existing file without overwrite.
var ErrExists = errors.New("file already exists")

// Save writes doc to path (mode 0644) through a temporary file and a
// rename. Unless overwrite, an existing file is an error wrapping ErrExists.
func Save(path string, doc *pb.GenesisDoc, overwrite bool) error {
	data, err := Marshal(doc)
	if err != nil {
		return err
	}
	if !overwrite {
		if _, err := os.Lstat(path); err == nil {
			return fmt.Errorf("save genesis %s: %w", path, ErrExists)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("save genesis: %w", err)
		}
	}
	if err := writeFile(path, data); err != nil {
		return fmt.Errorf("save genesis %s: %w", path, err)
	}
	return nil
}

func writeFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// HashSize is the size of a genesis hash.
const HashSize = crypto.HashSize

// Suite is the crypto suite doc names (crypto_suite; empty is
// ed25519-sha256), or an error naming the suites this binary knows.
func Suite(doc *pb.GenesisDoc) (crypto.Suite, error) {
	s, err := crypto.SuiteByName(doc.GetCryptoSuite())
	if err != nil {
		return 0, fmt.Errorf("crypto_suite: %w", err)
	}
	return s, nil
}

// Hash is the hash of doc's crypto suite (SHA-256 or SM3) over the
// deterministic protobuf encoding of doc.
func Hash(doc *pb.GenesisDoc) ([]byte, error) {
	suite, err := Suite(doc)
	if err != nil {
		return nil, fmt.Errorf("hash genesis: %w", err)
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("hash genesis: %w", err)
	}
	return suite.Hash(b), nil
}
