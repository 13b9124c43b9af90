//go:build js && wasm

// Command wasm is the portal's verifier: ledger/lightclient compiled to
// WebAssembly (`make wasm` builds it into node/portal/static). It exposes
// one function to the page,
//
//	govnodeVerify(bundle: Uint8Array, genesisHashHex: string, recordID?: string) → string
//
// which returns the verification report as JSON (lightclient.Report):
// with a record id (a bundle the page fetched for that id) a bundle of
// another record fails too (lightclient.VerifyBundleOf);
// then calls globalThis.govnodeVerifierReady() to tell the page it is
// there, and stays alive for further calls.
package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"syscall/js"

	"github.com/govnode/govnode/ledger/lightclient"
)

func main() {
	js.Global().Set("govnodeVerify", js.FuncOf(verify))
	if ready := js.Global().Get("govnodeVerifierReady"); ready.Type() == js.TypeFunction {
		ready.Invoke()
	}
	select {}
}

// failed is the report of a bundle that could not be read at all.
func failed(part, reason string) string {
	b, _ := json.Marshal(map[string]any{"ok": false, "failures": []map[string]string{{"part": part, "reason": reason}}})
	return string(b)
}

func verify(_ js.Value, args []js.Value) (out any) {
	defer func() {
		// A panic would kill the Go program and every later call with
		// it: report it as a failure instead.
		if p := recover(); p != nil {
			out = failed("verifier", fmt.Sprint("internal error: ", p))
		}
	}()
	if len(args) < 2 || len(args) > 3 || args[0].Type() != js.TypeObject || args[1].Type() != js.TypeString ||
		len(args) == 3 && args[2].Type() != js.TypeString && args[2].Type() != js.TypeUndefined && args[2].Type() != js.TypeNull {
		return failed("input", "want (Uint8Array bundle, string genesis hash[, string record id])")
	}
	id := ""
	if len(args) == 3 && args[2].Type() == js.TypeString {
		id = args[2].String()
	}
	n := args[0].Get("byteLength")
	if n.Type() != js.TypeNumber {
		return failed("input", "the bundle is not a Uint8Array")
	}
	// A larger array is refused before it is copied into Go's memory.
	if n.Int() > lightclient.MaxBundleBytes {
		return failed("input", fmt.Sprintf("bundle of %d bytes, limit %d", n.Int(), lightclient.MaxBundleBytes))
	}
	bundle := make([]byte, n.Int())
	js.CopyBytesToGo(bundle, args[0])
	gh, err := hex.DecodeString(args[1].String())
	if err != nil || len(gh) != 32 {
		return failed("genesis_hash", "the genesis hash must be 64 hexadecimal digits")
	}
	var rep *lightclient.Report
	if id != "" {
		rep, err = lightclient.VerifyBundleOf(bundle, gh, id, 0)
	} else {
		rep, err = lightclient.VerifyBundle(bundle, gh)
	}
	if rep == nil {
		if err == nil {
			err = fmt.Errorf("no report")
		}
		return failed("bundle", err.Error())
	}
	if err != nil && (rep.OK || len(rep.Failures) == 0) {
		// An error the report does not name: never show it as verified.
		rep.OK = false
		rep.Failures = append(rep.Failures, lightclient.Failure{Part: "bundle", Reason: err.Error()})
	}
	b, merr := json.Marshal(rep)
	if merr != nil {
		return failed("verifier", merr.Error())
	}
	return string(b)
}
