package driver

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/govnode/govnode/consensus"
	pb "github.com/govnode/govnode/proto/govnode/v1"
	"google.golang.org/protobuf/proto"
)

// FileSafetyStore keeps the consensus.SafetyState in one small file. Save writes a
// temporary file, syncs it, renames it over the old one and syncs the
// directory, so a crash at any instant leaves either the old or the new
// state, never a torn one.
//
// Format: "GVSS" ‖ version 1 ‖ view ‖ last voted view ‖ last voted height
// (big-endian uint64s) ‖ high QC ‖ block count ‖ blocks (protobuf, each
// with a big-endian uint32 length) ‖ CRC-32C of everything before it.
//
// The whole state is rewritten on every Save, blocks included. That is
// fine for the few uncommitted blocks of a healthy chain; a node with large
// blocks should keep SafetyState.Blocks in its block store keyed by hash
// and write only new ones.
type FileSafetyStore struct {
	path string
}

var _ SafetyStore = (*FileSafetyStore)(nil)

// ErrCorruptSafetyState: the safety file exists but does not decode.
var ErrCorruptSafetyState = errors.New("consensus: corrupt safety state file")

// NewFileSafetyStore stores the state at path (its directory must exist).
func NewFileSafetyStore(path string) *FileSafetyStore { return &FileSafetyStore{path: path} }

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

const safetyMagic = "GVSS\x01"

// Load returns the saved state, or the zero state if no file exists.
func (s *FileSafetyStore) Load() (consensus.SafetyState, error) {
	b, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return consensus.SafetyState{}, nil
	}
	if err != nil {
		return consensus.SafetyState{}, fmt.Errorf("read safety state: %w", err)
	}
	return decodeSafety(b)
}

func decodeSafety(b []byte) (consensus.SafetyState, error) {
	if len(b) < len(safetyMagic)+24+4+4+4 || string(b[:len(safetyMagic)]) != safetyMagic {
		return consensus.SafetyState{}, fmt.Errorf("%w: bad header", ErrCorruptSafetyState)
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return consensus.SafetyState{}, fmt.Errorf("%w: checksum", ErrCorruptSafetyState)
	}
	p := body[len(safetyMagic):]
	var st consensus.SafetyState
	st.View = binary.BigEndian.Uint64(p[0:])
	st.LastVotedView = binary.BigEndian.Uint64(p[8:])
	st.LastVotedHeight = binary.BigEndian.Uint64(p[16:])
	p = p[24:]
	next := func() ([]byte, error) {
		if len(p) < 4 || int(binary.BigEndian.Uint32(p)) > len(p)-4 {
			return nil, fmt.Errorf("%w: truncated", ErrCorruptSafetyState)
		}
		n := binary.BigEndian.Uint32(p)
		b := p[4 : 4+n]
		p = p[4+n:]
		return b, nil
	}
	qc, err := next()
	if err != nil {
		return consensus.SafetyState{}, err
	}
	if len(qc) > 0 {
		st.HighQC = new(pb.QuorumCert)
		if err := proto.Unmarshal(qc, st.HighQC); err != nil {
			return consensus.SafetyState{}, fmt.Errorf("%w: high QC: %v", ErrCorruptSafetyState, err)
		}
	}
	if len(p) < 4 {
		return consensus.SafetyState{}, fmt.Errorf("%w: block count", ErrCorruptSafetyState)
	}
	count := binary.BigEndian.Uint32(p)
	p = p[4:]
	for i := uint32(0); i < count; i++ {
		bb, err := next()
		if err != nil {
			return consensus.SafetyState{}, err
		}
		b := new(pb.Block)
		if err := proto.Unmarshal(bb, b); err != nil {
			return consensus.SafetyState{}, fmt.Errorf("%w: block %d: %v", ErrCorruptSafetyState, i, err)
		}
		st.Blocks = append(st.Blocks, b)
	}
	if len(p) != 0 {
		return consensus.SafetyState{}, fmt.Errorf("%w: trailing bytes", ErrCorruptSafetyState)
	}
	return st, nil
}

func encodeSafety(st consensus.SafetyState) ([]byte, error) {
	var qc []byte
	if st.HighQC != nil {
		var err error
		qc, err = proto.MarshalOptions{Deterministic: true}.Marshal(st.HighQC)
		if err != nil {
			return nil, err
		}
	}
	b := make([]byte, 0, len(safetyMagic)+36+len(qc)+4)
	b = append(b, safetyMagic...)
	b = binary.BigEndian.AppendUint64(b, st.View)
	b = binary.BigEndian.AppendUint64(b, st.LastVotedView)
	b = binary.BigEndian.AppendUint64(b, st.LastVotedHeight)
	b = binary.BigEndian.AppendUint32(b, uint32(len(qc)))
	b = append(b, qc...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(st.Blocks)))
	for _, blk := range st.Blocks {
		bb, err := proto.MarshalOptions{Deterministic: true}.Marshal(blk)
		if err != nil {
			return nil, err
		}
		b = binary.BigEndian.AppendUint32(b, uint32(len(bb)))
		b = append(b, bb...)
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli)), nil
}

// Save writes st durably: temp file, fsync, rename, fsync directory.
func (s *FileSafetyStore) Save(st consensus.SafetyState) error {
	b, err := encodeSafety(st)
	if err != nil {
		return fmt.Errorf("encode safety state: %w", err)
	}
	dir := filepath.Dir(s.path)
	f, err := os.CreateTemp(dir, filepath.Base(s.path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("create temp safety file: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write safety state: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync safety state: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close safety state: %w", err)
	}
	if err := os.Rename(tmp, s.path); err != nil {
		return fmt.Errorf("rename safety state: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open safety dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync safety dir: %w", err)
	}
	return nil
}
