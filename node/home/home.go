// Package home guards a node's on-disk state across restarts: the home
// marker that notices a ledger or consensus safety state gone missing after
// the node ran (a validator that forgot its votes could vote twice), the
// genesis marker that keeps a data directory to one chain, the safety
// state's file name, and the safety store of a validator recovering a lost
// state (ARCHITECTURE.md §7).
package home

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/govnode/govnode/consensus"
	"github.com/govnode/govnode/consensus/driver"
)

// A node whose ledger or consensus safety state is deleted (a wrong rm, a
// restore that skipped data_dir, data_dir pointed at an empty disk) would
// otherwise start as a new node: at height 0, with no record of the views
// it voted in. A validator could then vote again in a view it already voted
// in, for another block: equivocation, which its peers record as evidence
// against it, and with enough such validators a fork.
//
// The home marker, a small file in the node's home next to config.toml
// (outside data_dir, so deleting data_dir leaves it), records that this
// home has run a node of a chain: written at the end of the first New that
// succeeds, and again whenever what it records changes. At start, New
// refuses (ErrMissingState) a home whose marker names the same genesis but
// whose ledger is missing or empty, or whose safety state is missing when
// the marker says it existed. Options.RecoverMissingState (`govnode start
// --recover-missing-state`) accepts it knowingly.
//
// What it cannot see: a home deleted whole (the marker goes with it) and
// rebuilt with the same validator key, a marker deleted with the data, a
// data_dir that is the home itself, a home that alternates between two
// chains (the marker holds the last one), and a ledger or safety state
// restored from an older backup (the files exist; they are stale). Keep a
// validator's data_dir and its safety state out of backups that get
// restored, or restore with --recover-missing-state after deleting
// the safety state file.
const (
	// MarkerName is the home marker's file, in the home beside config.toml.
	MarkerName = "node_state.json"
	// SafetyFile is the consensus safety state's file in data_dir
	// (consensus/driver.FileSafetyStore's binary slots).
	SafetyFile = "safety.state"
	// legacySafetyFile is its name before it was renamed: it never held
	// JSON. MigrateSafetyFile renames it.
	legacySafetyFile = "safety.json"
	// LedgerDir is the LevelDB ledger's directory in data_dir.
	LedgerDir = "ledger"
	// PayloadsDir is the protected payload store's directory in data_dir
	// (node/payloads): content kept beside the chain, erasable.
	PayloadsDir   = "payloads"
	ledgerDirName = LedgerDir
	// recoverFlag is how the operator accepts a missing state; named in
	// the error so that the remedy is in front of them.
	recoverFlag = "--recover-missing-state"
)

// ErrMissingState: the node has run in this home before, but its ledger or
// consensus safety state is gone; New refuses to start without
// Options.RecoverMissingState.
var ErrMissingState = errors.New("node state missing")

// homeMarker is the marker file's contents (JSON).
type homeMarker struct {
	Version     int    `json:"version"`
	GenesisHash string `json:"genesis_hash"` // hex
	// DataDir is the data directory the node ran with, as resolved then.
	DataDir string `json:"data_dir"`
	// SafetyState is true once this home's validator has a safety state
	// file (New creates an empty one on a validator's first start, so it
	// exists before any vote).
	SafetyState bool `json:"safety_state"`
}

const homeMarkerVersion = 1

// maxHomeMarkerBytes bounds the marker read (it is about 200 bytes).
const maxHomeMarkerBytes = 64 << 10

// Check is what CheckHome found.
type Check struct {
	path string
	// prev is the marker of this chain, nil when there is none (a new
	// home, a home of an older govnode, a marker of another genesis).
	prev *homeMarker
	// SafetyLost: the safety state is missing and the operator accepted
	// it; the node then wraps its safety store in RecoveringSafety.
	SafetyLost bool
	// accept is Options.RecoverMissingState.
	accept bool
}

// CheckHome reads the home marker at markerPath and refuses, unless
// accept (`--recover-missing-state`), a home that ran this chain but whose
// ledger or safety state in dataDir is missing. It creates and changes
// nothing.
func CheckHome(markerPath, dataDir string, genesisHash []byte, accept bool, log *slog.Logger) (Check, error) {
	hc := Check{path: markerPath, accept: accept}
	m, err := readHomeMarker(hc.path)
	if err != nil {
		return hc, err
	}
	if m == nil {
		return hc, nil
	}
	if m.GenesisHash != hex.EncodeToString(genesisHash) {
		// Another chain ran here. Its state is no use to this one, and
		// a data_dir still holding it is refused by the genesis marker.
		log.Info("home marker names another genesis: starting as a node new to this chain",
			"marker", hc.path, "marker_genesis", m.GenesisHash)
		return hc, nil
	}
	hc.prev = m
	var missing []string
	ledger := filepath.Join(dataDir, ledgerDirName)
	ents, err := os.ReadDir(ledger)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		missing = append(missing, "its ledger "+ledger)
	case err != nil:
		return hc, fmt.Errorf("ledger: %w", err)
	case len(ents) == 0:
		// Its files deleted, the directory left: the store would start
		// a new ledger in it.
		missing = append(missing, "its ledger "+ledger+" (the directory is empty)")
	}
	safety := filepath.Join(dataDir, SafetyFile)
	if m.SafetyState {
		ok, err := exists(safety)
		if err != nil {
			return hc, err
		}
		if !ok {
			missing = append(missing, "its consensus safety state "+safety)
			hc.SafetyLost = true
		}
	}
	if len(missing) == 0 {
		return hc, nil
	}
	return hc, hc.refuseOrWarn(log, m, strings.Join(missing, " and "))
}

func (hc Check) refuseOrWarn(log *slog.Logger, m *homeMarker, missing string) error {
	where := ""
	if m.DataDir != "" {
		where = " with data_dir " + m.DataDir
	}
	if !hc.accept {
		return fmt.Errorf("%w: this home ran a node of this chain%s (%s records it), but %s is missing. "+
			"Started anyway, the node would begin again at height 0 or forget the views it voted in, "+
			"and as a validator it could sign a second, conflicting vote for a block it already voted on "+
			"(its peers record that as evidence against it). If the data was moved, point data_dir at it; "+
			"if it is lost, start once with %s: the node then catches up from its peers and does not vote "+
			"before the view after the highest its peers report",
			ErrMissingState, where, hc.path, missing, recoverFlag)
	}
	log.Warn("starting with missing state, as "+recoverFlag+" allows: catching up from peers, not voting before the view after their highest",
		"missing", missing, "marker", hc.path)
	return nil
}

// InitSafety gives a validator that has no safety state file an empty one,
// so that from its first start on the file exists and its loss can be
// told from a node that never voted. It leaves a lost state (accepted by
// the operator) missing: RecoveringSafety then fills it in.
func (hc Check) InitSafety(store driver.SafetyStore, dataDir string, validator bool) error {
	if !validator || hc.SafetyLost {
		return nil
	}
	ok, err := exists(filepath.Join(dataDir, SafetyFile))
	if err != nil || ok {
		return err
	}
	// The zero state is what Load returns for a missing file: nothing
	// changes for consensus.
	if err := store.Save(consensus.SafetyState{}); err != nil {
		return fmt.Errorf("create safety state: %w", err)
	}
	return nil
}

// Record writes the marker for this start if it says something new.
// validator: this node signs, so its safety state must stay (initSafety
// created it, or RecoveringSafety will write it).
func (hc Check) Record(dataDir string, genesisHash []byte, validator bool) error {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return fmt.Errorf("home marker: %w", err)
	}
	hasSafety, err := exists(filepath.Join(dataDir, SafetyFile))
	if err != nil {
		return err
	}
	m := homeMarker{Version: homeMarkerVersion, GenesisHash: hex.EncodeToString(genesisHash), DataDir: abs,
		SafetyState: validator || hasSafety}
	if hc.prev != nil && *hc.prev == m {
		return nil
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("home marker: %w", err)
	}
	if err := writeFileSync(hc.path, append(b, '\n')); err != nil {
		return fmt.Errorf("write home marker %s: %w", hc.path, err)
	}
	return nil
}

func readHomeMarker(path string) (*homeMarker, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read home marker: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxHomeMarkerBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read home marker: %w", err)
	}
	damaged := func(why any) error {
		return fmt.Errorf("home marker %s is damaged (%v): if this home's ledger and safety state are intact, delete the marker and start again", path, why)
	}
	if len(b) > maxHomeMarkerBytes {
		return nil, damaged(fmt.Sprintf("larger than %d bytes", maxHomeMarkerBytes))
	}
	var m homeMarker
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, damaged(err)
	}
	if m.Version != homeMarkerVersion {
		return nil, fmt.Errorf("home marker %s: version %d, this build reads version %d", path, m.Version, homeMarkerVersion)
	}
	return &m, nil
}

// writeFileSync replaces path with data durably: a temporary file, fsync,
// rename, fsync of the directory.
func writeFileSync(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o600)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func exists(path string) (bool, error) {
	_, err := os.Lstat(path)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return false, err
}

// RecoveringSafety is the safety store of a validator started with its
// safety state missing (RecoverMissingState). While the file holds
// nothing, Load returns the state of a replica that timed out in view v,
// the floor: (v, MaxUint64) is above every (view, height) position in v,
// so it votes in no view up to v, at any height. floor returns the highest
// view among the committed head and the peers (the node asks its peers): a
// view this validator voted in before losing its state had a leader that
// entered it, so unless every peer that saw that view is silent, v covers
// it. The cost is that the validator abstains for the rest of the current
// view: views change only when one times out, and if its vote is needed
// for a quorum the view times out and it votes in the next. Once the
// driver saves a state (above the floor), Load returns that and the floor
// is not needed again.
type RecoveringSafety struct {
	Inner driver.SafetyStore
	// Floor returns the view below which the validator must not vote.
	Floor func() (uint64, error)
	Log   *slog.Logger
}

var _ driver.SafetyStore = (*RecoveringSafety)(nil)

// Load returns the stored state, or, while it holds nothing, the state of
// a replica that timed out at Floor's view.
func (r *RecoveringSafety) Load() (consensus.SafetyState, error) {
	st, err := r.Inner.Load()
	if err != nil || !zeroSafety(st) {
		return st, err
	}
	v, err := r.Floor()
	if err != nil {
		return consensus.SafetyState{}, fmt.Errorf("recover the missing safety state: %w", err)
	}
	r.Log.Warn("safety state recovered from peers: not voting again before the view after floor_view", "floor_view", v)
	return consensus.SafetyState{View: v, LastVotedView: v, LastVotedHeight: math.MaxUint64}, nil
}

// Save saves to the inner store.
func (r *RecoveringSafety) Save(st consensus.SafetyState) error { return r.Inner.Save(st) }

func zeroSafety(s consensus.SafetyState) bool {
	return s.View == 0 && s.LastVotedView == 0 && s.LastVotedHeight == 0 && s.HighQC == nil && len(s.Blocks) == 0
}

// MigrateSafetyFile renames a safety state kept under its old name,
// safety.json (it never held JSON), to SafetyFile, durably, before anything
// reads it. A data_dir with both refuses to guess which is current.
func MigrateSafetyFile(dataDir string) error {
	old, cur := filepath.Join(dataDir, legacySafetyFile), filepath.Join(dataDir, SafetyFile)
	hasOld, err := exists(old)
	if err != nil || !hasOld {
		return err
	}
	hasCur, err := exists(cur)
	if err != nil {
		return err
	}
	if hasCur {
		return fmt.Errorf("data dir %s holds the safety state twice, as %s and as %s (its old name): keep the current one and remove the other",
			dataDir, SafetyFile, legacySafetyFile)
	}
	if err := os.Rename(old, cur); err != nil {
		return fmt.Errorf("rename safety state %s to %s: %w", old, cur, err)
	}
	d, err := os.Open(dataDir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// GenesisMarker is the file in data_dir naming the genesis its ledger
// belongs to.
const GenesisMarker = "genesis.hash"

// CheckGenesisMarker refuses a data directory that belongs to another
// chain, or holds a ledger without saying which.
func CheckGenesisMarker(dataDir string, hash []byte) error {
	b, err := os.ReadFile(filepath.Join(dataDir, GenesisMarker))
	if errors.Is(err, os.ErrNotExist) {
		if _, lerr := os.Stat(filepath.Join(dataDir, LedgerDir)); lerr == nil {
			return fmt.Errorf("data dir %s has a ledger but no genesis marker: refusing to guess its genesis", dataDir)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("read genesis marker: %w", err)
	}
	if got := string(b); got != fmt.Sprintf("%x\n", hash) {
		return fmt.Errorf("data dir %s belongs to another chain (genesis %s), not to this genesis %x", dataDir, strings.TrimSuffix(got, "\n"), hash)
	}
	return nil
}

// WriteGenesisMarker writes the genesis marker if it is not there yet.
func WriteGenesisMarker(dataDir string, hash []byte) error {
	p := filepath.Join(dataDir, GenesisMarker)
	if _, err := os.Stat(p); err == nil {
		return nil
	}
	if err := os.WriteFile(p, []byte(fmt.Sprintf("%x\n", hash)), 0o600); err != nil {
		return fmt.Errorf("write genesis marker: %w", err)
	}
	return nil
}
