package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/govnode/govnode/node"
)

// Every config.toml key has a flag of the same name ('_' written '-',
// sections joined by '.'), as start's help promises; but log_level (the
// root's --log-level) and genesis_file (start's --genesis, init's
// --genesis-file). A key added to node.Config without a flag fails here.
func TestEveryConfigKeyHasAFlag(t *testing.T) {
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	addConfigFlags(fs)
	skip := map[string]bool{"log-level": true}
	keys := 0
	var walk func(prefix string, typ reflect.Type)
	walk = func(prefix string, typ reflect.Type) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			tag := strings.Split(f.Tag.Get("toml"), ",")[0]
			if tag == "" || tag == "-" {
				continue
			}
			name := prefix + strings.ReplaceAll(tag, "_", "-")
			if f.Type.Kind() == reflect.Struct {
				walk(name+".", f.Type)
				continue
			}
			keys++
			if !skip[name] && fs.Lookup(name) == nil {
				t.Errorf("config key %s has no flag --%s", prefix+tag, name)
			}
		}
	}
	walk("", reflect.TypeOf(node.Config{}))
	if keys < 40 {
		t.Fatalf("walked %d config keys: the walk missed the sections", keys)
	}
}
