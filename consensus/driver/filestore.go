package driver

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/govnode/govnode/consensus"
	pb "github.com/govnode/govnode/proto/govnode/v1"
	"google.golang.org/protobuf/proto"
)

// FileSafetyStore keeps the consensus.SafetyState in one small file,
// rewritten in place: the file holds two slots, and each Save writes the
// state, with a sequence number and a SHA-256 of both, into the slot that
// does not hold the latest state, then syncs the file's data (one
// fdatasync on Linux, see datasync; no new file, rename or directory
// sync). Load takes the valid slot with the
// higher sequence number.
//
// A crash during a Save can tear only the slot being written, which Load
// then finds invalid, so it returns the state of the Save before: the
// state this node had before the interrupted Save, on which nothing the
// interrupted one guarded had been sent. A state that does not fit a slot
// (and the first Save) writes a new file with larger slots: temporary
// file, fsync, rename, fsync of the directory.
//
// File: "GVS2" ‖ slot size (big-endian uint32) ‖ slot 0 ‖ slot 1, each slot
// seq (uint64) ‖ n (uint32) ‖ record (n bytes) ‖ SHA-256(seq ‖ n ‖ record)
// ‖ unused bytes (zeros in a new file; a Save writes only up to the hash and
// leaves an older, longer record's tail behind it). The record: "GVSS" ‖ version 1 ‖ view ‖ last voted view ‖
// last voted height (big-endian uint64s) ‖ high QC ‖ block count ‖ blocks
// (protobuf, each with a big-endian uint32 length) ‖ CRC-32C of everything
// before it. A file that is one bare record (the format before 2026-11-24)
// is read as such and replaced by the next Save.
//
// The whole state is written on every Save, blocks included. That is
// fine for the few uncommitted blocks of a healthy chain; a node with large
// blocks should keep SafetyState.Blocks in its block store keyed by hash
// and write only new ones.
type FileSafetyStore struct {
	path string

	mu       sync.Mutex
	f        *os.File // the slotted file, open for writing; nil: rewrite at the next Save
	slotSize int
	seq      uint64 // sequence number of the latest state
}

var _ SafetyStore = (*FileSafetyStore)(nil)

// ErrCorruptSafetyState: the safety file exists but does not decode.
var ErrCorruptSafetyState = errors.New("consensus: corrupt safety state file")

// NewFileSafetyStore stores the state at path (its directory must exist).
func NewFileSafetyStore(path string) *FileSafetyStore { return &FileSafetyStore{path: path} }

const (
	slotsMagic    = "GVS2"
	slotsHeader   = len(slotsMagic) + 4
	slotOverhead  = 8 + 4 + sha256.Size
	minSlotSize   = 64 << 10
	maxSafetySlot = 1 << 30
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

const safetyMagic = "GVSS\x01"

// Load returns the saved state, or the zero state if no file exists.
func (s *FileSafetyStore) Load() (consensus.SafetyState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeFile()
	b, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return consensus.SafetyState{}, nil
	}
	if err != nil {
		return consensus.SafetyState{}, fmt.Errorf("read safety state: %w", err)
	}
	if len(b) >= len(safetyMagic) && string(b[:len(safetyMagic)]) == safetyMagic {
		return decodeSafety(b) // a bare record: the next Save writes slots
	}
	rec, seq, slotSize, err := latestSlot(b)
	if err != nil {
		return consensus.SafetyState{}, err
	}
	st, err := decodeSafety(rec)
	if err != nil {
		return consensus.SafetyState{}, err
	}
	f, err := os.OpenFile(s.path, os.O_RDWR, 0)
	if err != nil {
		return consensus.SafetyState{}, fmt.Errorf("open safety state: %w", err)
	}
	// Saves sync only the file's data (datasync). A process that died in
	// rewrite after its rename and before the directory's sync left a
	// file the system may not have made durable with its name: sync both
	// once before writing in place, or a later power loss could bring
	// back an older state than one this node has acted on.
	if err := syncFileAndDir(f, s.path); err != nil {
		f.Close()
		return consensus.SafetyState{}, err
	}
	s.f, s.slotSize, s.seq = f, slotSize, seq
	return st, nil
}

// syncFileAndDir makes f (at path) and its directory entry durable.
func syncFileAndDir(f *os.File, path string) error {
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync safety state: %w", err)
	}
	return syncDir(filepath.Dir(path))
}

// syncDir makes dir's entries (a rename into it) durable.
func syncDir(dir string) error {
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

// latestSlot returns the record of the valid slot with the higher sequence
// number in a slotted file.
func latestSlot(b []byte) (rec []byte, seq uint64, slotSize int, err error) {
	if len(b) < slotsHeader || string(b[:len(slotsMagic)]) != slotsMagic {
		return nil, 0, 0, fmt.Errorf("%w: bad header", ErrCorruptSafetyState)
	}
	slotSize = int(binary.BigEndian.Uint32(b[len(slotsMagic):]))
	if slotSize < slotOverhead || slotSize > maxSafetySlot || len(b) != slotsHeader+2*slotSize {
		return nil, 0, 0, fmt.Errorf("%w: %d bytes with slots of %d", ErrCorruptSafetyState, len(b), slotSize)
	}
	found := false
	for i := range 2 {
		slot := b[slotsHeader+i*slotSize : slotsHeader+(i+1)*slotSize]
		q, n := binary.BigEndian.Uint64(slot), int(binary.BigEndian.Uint32(slot[8:]))
		if n > slotSize-slotOverhead {
			continue
		}
		sum := sha256.Sum256(slot[:12+n])
		if string(sum[:]) != string(slot[12+n:12+n+sha256.Size]) || q == 0 {
			continue
		}
		if !found || q > seq {
			rec, seq, found = slot[12:12+n], q, true
		}
	}
	if !found {
		return nil, 0, 0, fmt.Errorf("%w: no valid slot", ErrCorruptSafetyState)
	}
	return rec, seq, slotSize, nil
}

func (s *FileSafetyStore) closeFile() {
	if s.f != nil {
		s.f.Close()
		s.f = nil
	}
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

// Save writes st durably: into the slot not holding the latest state, with
// one data sync; or, the first time and when st outgrows a slot, as a new
// file (see FileSafetyStore).
func (s *FileSafetyStore) Save(st consensus.SafetyState) error {
	rec, err := encodeSafety(st)
	if err != nil {
		return fmt.Errorf("encode safety state: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	seq := s.seq + 1
	if s.f == nil || len(rec)+slotOverhead > s.slotSize {
		return s.rewrite(rec, seq)
	}
	slot := encodeSlot(rec, seq)
	if _, err := s.f.WriteAt(slot, int64(slotsHeader+int(seq%2)*s.slotSize)); err != nil {
		s.closeFile() // a failed write may have torn the slot: rewrite next time
		return fmt.Errorf("write safety state: %w", err)
	}
	if err := datasync(s.f); err != nil {
		s.closeFile()
		return fmt.Errorf("sync safety state: %w", err)
	}
	s.seq = seq
	return nil
}

// encodeSlot returns what Save writes at a slot's start: seq, the
// record's length, the record and its SHA-256. The rest of the slot is not
// written: Load reads only the bytes that n covers.
func encodeSlot(rec []byte, seq uint64) []byte {
	slot := make([]byte, 12, slotOverhead+len(rec))
	binary.BigEndian.PutUint64(slot, seq)
	binary.BigEndian.PutUint32(slot[8:], uint32(len(rec)))
	slot = append(slot, rec...)
	sum := sha256.Sum256(slot)
	return append(slot, sum[:]...)
}

// rewrite writes a new slotted file holding rec as state seq: temporary
// file, fsync, rename, fsync of the directory. It keeps the new file open
// for the Saves that follow.
func (s *FileSafetyStore) rewrite(rec []byte, seq uint64) error {
	s.closeFile()
	slotSize := minSlotSize
	for slotSize < 2*(len(rec)+slotOverhead) {
		slotSize *= 2
	}
	if slotSize > maxSafetySlot {
		return fmt.Errorf("safety state of %d bytes is too large", len(rec))
	}
	b := make([]byte, slotsHeader+2*slotSize)
	copy(b, slotsMagic)
	binary.BigEndian.PutUint32(b[len(slotsMagic):], uint32(slotSize))
	copy(b[slotsHeader+int(seq%2)*slotSize:], encodeSlot(rec, seq))

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
	if err := os.Rename(tmp, s.path); err != nil {
		f.Close()
		return fmt.Errorf("rename safety state: %w", err)
	}
	if err := syncDir(dir); err != nil {
		f.Close()
		return err
	}
	s.f, s.slotSize, s.seq = f, slotSize, seq
	return nil
}
