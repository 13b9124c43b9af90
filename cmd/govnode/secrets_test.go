package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A passphrase file is read only if it is a regular file (or a pipe) of at
// most maxPassphraseFileBytes; one that group or others may read is used
// with a warning. A key file others may read is used with a warning too.
func TestPassphraseAndKeyFileChecks(t *testing.T) {
	tmp := t.TempDir()
	home := filepath.Join(tmp, "home")
	h := "--home=" + home
	good := writeFile(t, filepath.Join(tmp, "pass"), "first pass\n")
	mustRun(t, nil, "keys", "new", "alice", h, "--passphrase-file", good, fastScrypt)
	keyFile := filepath.Join(home, "keys", "alice.key")

	exposed := writeFile(t, filepath.Join(tmp, "pass-644"), "first pass\n")
	if err := os.Chmod(exposed, 0o644); err != nil {
		t.Fatal(err)
	}
	huge := writeFile(t, filepath.Join(tmp, "pass-huge"), "first pass\n"+strings.Repeat("x", maxPassphraseFileBytes))
	cases := []struct {
		name     string
		passFile string
		keyPerm  os.FileMode
		wantErr  []string // substrings of the error; none: it works
		wantWarn []string // substrings of stderr
		noWarn   string   // must not be on stderr
	}{
		{name: "private files", passFile: good, keyPerm: 0o600, noWarn: "WARNING: passphrase file"},
		{name: "passphrase file readable by others", passFile: exposed, keyPerm: 0o600,
			wantWarn: []string{"WARNING: passphrase file " + exposed, "mode 0644", "chmod 600"}},
		{name: "key file readable by the group", passFile: good, keyPerm: 0o640,
			wantWarn: []string{"WARNING: key file " + keyFile, "mode 0640"}},
		{name: "passphrase file /dev/zero", passFile: "/dev/zero", keyPerm: 0o600,
			wantErr: []string{"/dev/zero", "not a regular file"}},
		{name: "passphrase file a directory", passFile: tmp, keyPerm: 0o600,
			wantErr: []string{tmp, "not a regular file"}},
		{name: "passphrase file too large", passFile: huge, keyPerm: 0o600,
			wantErr: []string{huge, "more than 4096 bytes"}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := os.Stat(tc.passFile); err != nil {
				t.Skip(err)
			}
			if err := os.Chmod(keyFile, tc.keyPerm); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(tmp, "export-"+string(rune('a'+i))+".key")
			r := run(t, nil, "keys", "export", "alice", h, "--out", out, "--unencrypted", "--passphrase-file", tc.passFile)
			if len(tc.wantErr) > 0 {
				if r.err == nil {
					t.Fatal("export worked")
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(r.err.Error(), w) {
						t.Fatalf("error %q lacks %q", r.err, w)
					}
				}
				return
			}
			if r.err != nil {
				t.Fatalf("export: %v", r.err)
			}
			for _, w := range tc.wantWarn {
				if !strings.Contains(r.errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.errOut)
				}
			}
			if tc.noWarn != "" && strings.Contains(r.errOut, tc.noWarn) {
				t.Errorf("unexpected warning:\n%s", r.errOut)
			}
		})
	}
}

// `govnode start` on an empty config.toml warns that it runs on defaults,
// with p2p on every interface, before it goes on (here to fail: the home
// has no keys).
func TestStartWarnsAboutEmptyConfig(t *testing.T) {
	home := t.TempDir()
	writeFile(t, filepath.Join(home, "config.toml"), "")
	r := run(t, nil, "start", "--home", home)
	if r.err == nil {
		t.Fatal("start worked in a home without keys")
	}
	for _, w := range []string{"sets no key", "listen on every network interface", `"level":"WARN"`} {
		if !strings.Contains(r.errOut, w) {
			t.Errorf("stderr lacks %q:\n%s", w, r.errOut)
		}
	}
}

// `govnode start --passphrase-file` logs a passphrase file others may read.
func TestStartWarnsAboutExposedPassphraseFile(t *testing.T) {
	tmp := t.TempDir()
	home := filepath.Join(tmp, "home")
	pass := writeFile(t, filepath.Join(tmp, "pass"), "node pass\n")
	mustRun(t, nil, "init", "--home", home, "--passphrase-file", pass, fastScrypt)
	if err := os.Chmod(pass, 0o604); err != nil {
		t.Fatal(err)
	}
	// No genesis in the home: start stops after reading the passphrase.
	r := run(t, nil, "start", "--home", home, "--passphrase-file", pass)
	if r.err == nil {
		t.Fatal("start worked without a genesis")
	}
	for _, w := range []string{"passphrase file is exposed", pass, "mode 0604"} {
		if !strings.Contains(r.errOut, w) {
			t.Errorf("stderr lacks %q:\n%s\n(error: %v)", w, r.errOut, r.err)
		}
	}
}
