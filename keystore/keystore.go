package keystore

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"filippo.io/age"

	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Version is the key file format version this package writes and reads.
const Version = 1

// Scrypt work factors (log2 of the scrypt N parameter).
const (
	// DefaultScryptWorkFactor is used when Options.ScryptWorkFactor is 0:
	// about one second on a current machine, age's own default.
	DefaultScryptWorkFactor = 18
	// MaxScryptWorkFactor caps the work a file may demand when it is read,
	// and the work factor a caller may ask for.
	MaxScryptWorkFactor = 22
	// MinScryptWorkFactor is the lowest accepted work factor. Values below
	// DefaultScryptWorkFactor are meant for tests only.
	MinScryptWorkFactor = 1
)

// Errors callers test for with errors.Is.
var (
	// ErrWrongPassphrase: the passphrase does not open the key file (or the
	// encrypted passphrase block of the file is damaged: age cannot tell
	// the two apart).
	ErrWrongPassphrase = errors.New("wrong passphrase (or the encrypted key is damaged)")
	// ErrPassphraseRequired: the key file is encrypted and no passphrase was given.
	ErrPassphraseRequired = errors.New("key file is encrypted: a passphrase is required")
	// ErrCorrupt: the key file is not a well-formed key file.
	ErrCorrupt = errors.New("key file is damaged")
	// ErrUnsupportedVersion: the key file has a format version this build does not read.
	ErrUnsupportedVersion = errors.New("unsupported key file version")
	// ErrExists: Save would overwrite an existing file and Options.Overwrite is false.
	ErrExists = errors.New("key file already exists")
	// ErrNotRegularFile: the key path names a device, pipe, socket or
	// directory. Reading /dev/zero or /dev/urandom would never end, and a
	// pipe cannot be read twice (the envelope is read before the passphrase
	// is asked for, then again to decrypt).
	ErrNotRegularFile = errors.New("not a regular file")
	// ErrFileTooLarge: the key file is larger than MaxFileBytes.
	ErrFileTooLarge = errors.New("file too large")
	// ErrFileExposed: group or others have access to a key file. CheckPerm
	// returns it for callers to warn with; nothing in this package refuses
	// such a file.
	ErrFileExposed = errors.New("group or others have access")
)

// MaxFileBytes bounds what is read from a key file. A key file is a few
// hundred bytes; the bound only stops a wrong path (a log file, a disk
// image) from being read into memory whole.
const MaxFileBytes = 64 << 10

// Kind says what a key is for.
type Kind string

// The key kinds.
const (
	// KindValidator signs consensus messages (votes, proposals, timeouts).
	KindValidator Kind = "validator"
	// KindNode is the libp2p host identity; its peer id goes in genesis.
	KindNode Kind = "node"
	// KindAccount signs transactions for an identity (official, citizen, company).
	KindAccount Kind = "account"
)

// ParseKind checks s names a kind.
func ParseKind(s string) (Kind, error) {
	switch k := Kind(s); k {
	case KindValidator, KindNode, KindAccount:
		return k, nil
	default:
		return "", fmt.Errorf("unknown key kind %q (want validator, node or account)", s)
	}
}

// Options controls how Save and Encode write a key.
type Options struct {
	// Kind is recorded in the file; required.
	Kind Kind
	// Passphrase encrypts the key; required unless Unencrypted.
	Passphrase string
	// Unencrypted writes the private key in the clear. For local test
	// networks only; the caller is expected to warn.
	Unencrypted bool
	// ScryptWorkFactor is log2 of scrypt's N; 0 means
	// DefaultScryptWorkFactor. Tests use about 10 to stay fast.
	ScryptWorkFactor int
	// Overwrite lets Save replace an existing file.
	Overwrite bool
}

// Validate checks the options are usable.
func (o Options) Validate() error {
	if _, err := ParseKind(string(o.Kind)); err != nil {
		return fmt.Errorf("options: kind: %w", err)
	}
	if o.Unencrypted {
		if o.Passphrase != "" {
			return errors.New("options: a passphrase was given for an unencrypted key")
		}
		return nil
	}
	if o.Passphrase == "" {
		return errors.New("options: passphrase: empty (give one, or ask explicitly for an unencrypted key)")
	}
	if w := o.ScryptWorkFactor; w != 0 && (w < MinScryptWorkFactor || w > MaxScryptWorkFactor) {
		return fmt.Errorf("options: scrypt work factor %d outside [%d, %d]", w, MinScryptWorkFactor, MaxScryptWorkFactor)
	}
	return nil
}

// Info is what a key file says without its passphrase.
type Info struct {
	// Path is the file the info was read from ("" for Decode).
	Path      string
	Version   int
	Kind      Kind
	Scheme    pb.KeyScheme
	PublicKey *pb.PublicKey
	Encrypted bool
	// Perm is the file's permission bits when it was read (0 for Decode).
	Perm fs.FileMode
}

// envelope is the JSON form of a key file; see the package doc.
type envelope struct {
	Version   int    `json:"version"`
	Kind      Kind   `json:"kind"`
	Scheme    string `json:"scheme"`
	PublicKey string `json:"public_key"`
	Encrypted bool   `json:"encrypted"`
	Data      string `json:"data"`
}

// Encode returns the key file bytes for key.
func Encode(key crypto.PrivateKey, opts Options) ([]byte, error) {
	if key == nil {
		return nil, errors.New("encode key: nil key")
	}
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	env := envelope{
		Version:   Version,
		Kind:      opts.Kind,
		Scheme:    crypto.SchemeName(key.Scheme()),
		PublicKey: base64.StdEncoding.EncodeToString(key.Public().GetKey()),
		Encrypted: !opts.Unencrypted,
	}
	secret := key.Bytes()
	defer clear(secret)
	if opts.Unencrypted {
		env.Data = base64.StdEncoding.EncodeToString(secret)
	} else {
		ct, err := encrypt(secret, opts.Passphrase, opts.ScryptWorkFactor)
		if err != nil {
			return nil, fmt.Errorf("encode key: %w", err)
		}
		env.Data = base64.StdEncoding.EncodeToString(ct)
	}
	out, err := json.MarshalIndent(env, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	return append(out, '\n'), nil
}

func encrypt(secret []byte, passphrase string, workFactor int) ([]byte, error) {
	r, err := age.NewScryptRecipient(passphrase)
	if err != nil {
		return nil, fmt.Errorf("passphrase: %w", err)
	}
	if workFactor == 0 {
		workFactor = DefaultScryptWorkFactor
	}
	r.SetWorkFactor(workFactor)
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, r)
	if err != nil {
		return nil, fmt.Errorf("encrypt: %w", err)
	}
	if _, err := w.Write(secret); err != nil {
		return nil, fmt.Errorf("encrypt: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("encrypt: %w", err)
	}
	return buf.Bytes(), nil
}

// DecodePublic parses a key file's envelope and returns what it says
// without decrypting anything.
func DecodePublic(data []byte) (*Info, error) {
	info, _, err := decodeEnvelope(data)
	return info, err
}

// Decode parses a key file and returns its private key. passphrase is
// ignored for an unencrypted file.
func Decode(data []byte, passphrase string) (crypto.PrivateKey, *Info, error) {
	info, env, err := decodeEnvelope(data)
	if err != nil {
		return nil, nil, err
	}
	raw, err := base64.StdEncoding.DecodeString(env.Data)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: data: not base64: %v", ErrCorrupt, err)
	}
	secret := raw
	if info.Encrypted {
		if passphrase == "" {
			return nil, nil, ErrPassphraseRequired
		}
		secret, err = decrypt(raw, passphrase)
		if err != nil {
			return nil, nil, err
		}
	}
	defer clear(secret)
	key, err := crypto.PrivateKeyFromBytes(info.Scheme, secret)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: private key: %v", ErrCorrupt, err)
	}
	if !crypto.PublicKeyEqual(key.Public(), info.PublicKey) {
		return nil, nil, fmt.Errorf("%w: public_key does not belong to the private key", ErrCorrupt)
	}
	return key, info, nil
}

func decrypt(ct []byte, passphrase string) ([]byte, error) {
	id, err := age.NewScryptIdentity(passphrase)
	if err != nil {
		return nil, fmt.Errorf("passphrase: %w", err)
	}
	id.SetMaxWorkFactor(MaxScryptWorkFactor)
	r, err := age.Decrypt(bytes.NewReader(ct), id)
	if err != nil {
		if _, ok := errors.AsType[*age.NoIdentityMatchError](err); ok {
			return nil, ErrWrongPassphrase
		}
		return nil, fmt.Errorf("%w: encrypted data: %v", ErrCorrupt, err)
	}
	secret, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%w: encrypted data: %v", ErrCorrupt, err)
	}
	return secret, nil
}

func decodeEnvelope(data []byte) (*Info, *envelope, error) {
	// The version is read on its own first, so a future version with new
	// fields is reported as a version problem, not as unknown fields.
	var head struct {
		Version *int `json:"version"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, nil, fmt.Errorf("%w: not a JSON key file: %v", ErrCorrupt, err)
	}
	if head.Version == nil {
		return nil, nil, fmt.Errorf("%w: version: missing", ErrCorrupt)
	}
	if *head.Version != Version {
		return nil, nil, fmt.Errorf("%w: version %d (this build reads version %d)", ErrUnsupportedVersion, *head.Version, Version)
	}
	var env envelope
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if dec.More() {
		return nil, nil, fmt.Errorf("%w: trailing data after the JSON object", ErrCorrupt)
	}
	kind, err := ParseKind(string(env.Kind))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: kind: %v", ErrCorrupt, err)
	}
	scheme, err := crypto.SchemeByName(env.Scheme)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: scheme: %v", ErrCorrupt, err)
	}
	pubBytes, err := base64.StdEncoding.DecodeString(env.PublicKey)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: public_key: not base64: %v", ErrCorrupt, err)
	}
	pub := &pb.PublicKey{Scheme: scheme, Key: pubBytes}
	if err := crypto.ValidatePublicKey(pub); err != nil {
		return nil, nil, fmt.Errorf("%w: public_key: %v", ErrCorrupt, err)
	}
	if env.Data == "" {
		return nil, nil, fmt.Errorf("%w: data: missing", ErrCorrupt)
	}
	info := &Info{Version: env.Version, Kind: kind, Scheme: scheme, PublicKey: pub, Encrypted: env.Encrypted}
	return info, &env, nil
}

// Save writes key to path with mode 0600, creating its directory (0700) if
// needed. It refuses to replace an existing file unless opts.Overwrite.
func Save(path string, key crypto.PrivateKey, opts Options) error {
	data, err := Encode(key, opts)
	if err != nil {
		return fmt.Errorf("save key %s: %w", path, err)
	}
	if err := writeFileAtomic(path, data, opts.Overwrite); err != nil {
		return fmt.Errorf("save key %s: %w", path, err)
	}
	return nil
}

// Load reads and decrypts the key file at path. passphrase is ignored for
// an unencrypted file.
func Load(path, passphrase string) (crypto.PrivateKey, error) {
	key, _, err := LoadWithInfo(path, passphrase)
	return key, err
}

// LoadWithInfo is Load that also returns the file's envelope information.
func LoadWithInfo(path, passphrase string) (crypto.PrivateKey, *Info, error) {
	data, perm, err := readKeyFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("load key: %w", err)
	}
	key, info, err := Decode(data, passphrase)
	if err != nil {
		return nil, nil, fmt.Errorf("load key %s: %w", path, err)
	}
	info.Path, info.Perm = path, perm
	return key, info, nil
}

// LoadPublic reads the envelope of the key file at path without the
// passphrase.
func LoadPublic(path string) (*Info, error) {
	data, perm, err := readKeyFile(path)
	if err != nil {
		return nil, fmt.Errorf("load key: %w", err)
	}
	info, err := DecodePublic(data)
	if err != nil {
		return nil, fmt.Errorf("load key %s: %w", path, err)
	}
	info.Path, info.Perm = path, perm
	return info, nil
}

// readKeyFile reads a key file: a regular file (after symlinks) of at most
// MaxFileBytes. It returns the file's permission bits too.
func readKeyFile(path string) ([]byte, fs.FileMode, error) {
	// Stat before opening: opening a FIFO blocks until a writer comes.
	st, err := os.Stat(path)
	if err != nil {
		return nil, 0, err
	}
	if !st.Mode().IsRegular() {
		return nil, 0, fmt.Errorf("%s: %w (%s): a key file must be a regular file", path, ErrNotRegularFile, fileType(st.Mode()))
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	// The file may have been replaced between Stat and Open: check what
	// was opened.
	if st, err = f.Stat(); err != nil {
		return nil, 0, err
	}
	if !st.Mode().IsRegular() {
		return nil, 0, fmt.Errorf("%s: %w (%s): a key file must be a regular file", path, ErrNotRegularFile, fileType(st.Mode()))
	}
	if st.Size() > MaxFileBytes {
		return nil, 0, fmt.Errorf("%s: %w: %d bytes, a key file has at most %d", path, ErrFileTooLarge, st.Size(), MaxFileBytes)
	}
	// The size may grow while we read: read one byte past the bound to
	// tell.
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, 0, err
	}
	if len(data) > MaxFileBytes {
		return nil, 0, fmt.Errorf("%s: %w: more than %d bytes, the most a key file has", path, ErrFileTooLarge, MaxFileBytes)
	}
	return data, st.Mode().Perm(), nil
}

// fileType names the kind of a file that is not regular.
func fileType(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	default:
		return "mode " + m.String()
	}
}

// CheckPerm returns an error wrapping ErrFileExposed, naming path, when
// perm grants group or others any access (read, write or execute), as ssh
// checks private keys. Callers warn with it rather than refuse: an
// encrypted key file (the default) is still protected by its passphrase,
// the exposure may already have happened by the time the node starts, and
// key files mounted by orchestration tools are often 0644; a warning tells
// the operator without stopping a running network.
func CheckPerm(path string, perm fs.FileMode) error {
	if perm&0o077 == 0 {
		return nil
	}
	return fmt.Errorf("%s: %w (mode %04o): anyone in the group or on the machine may read or replace it; run chmod 600 %s", path, ErrFileExposed, perm, path)
}

// FileExt is the extension of key files in a keyring directory.
const FileExt = ".key"

// Entry is one file of a keyring directory: its info, or why it could
// not be read.
type Entry struct {
	// Name is the file name without FileExt.
	Name string
	Path string
	Info *Info
	Err  error
}

// List reads the envelope of every *.key file in dir, sorted by name. A
// file that cannot be read is listed with its error rather than failing
// the whole listing. A missing dir lists nothing.
func List(dir string) ([]Entry, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	var out []Entry
	for _, e := range ents { // os.ReadDir sorts by name
		name := e.Name()
		if e.IsDir() || filepath.Ext(name) != FileExt {
			continue
		}
		p := filepath.Join(dir, name)
		info, err := LoadPublic(p)
		out = append(out, Entry{Name: name[:len(name)-len(FileExt)], Path: p, Info: info, Err: err})
	}
	return out, nil
}

// writeFileAtomic writes data to path with mode 0600 through a temporary
// file in the same directory and a rename.
func writeFileAtomic(path string, data []byte, overwrite bool) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if !overwrite {
		if _, err := os.Lstat(path); err == nil {
			return ErrExists
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			_ = os.Remove(tmp)
		}
	}()
	// CreateTemp makes the file 0600 already; Chmod makes it explicit and
	// independent of that detail.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if !overwrite {
		// Link fails if path appeared meanwhile, so a concurrent writer is
		// never silently replaced.
		if err := os.Link(tmp, path); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return ErrExists
			}
			return err
		}
		ok = true
		_ = os.Remove(tmp)
		return nil
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	return nil
}
