package node_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/govnode/govnode/node/nodetest"
)

// postJSON calls procedure with body as Connect JSON and returns the
// status code and the decoded answer.
func postJSON(t *testing.T, n *nodetest.Node, procedure, body string) (int, map[string]any) {
	t.Helper()
	resp, err := n.HTTP.Post(n.URL+"/govnode.v1.NodeService/"+procedure, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s: %d %q: %v", procedure, resp.StatusCode, raw, err)
	}
	return resp.StatusCode, m
}

// The API's JSON as an application developer meets it (issue 22 item 4):
// a hash given as hex or base64 finds the same tx, and one of the wrong
// length is refused naming both forms; a misspelled field is refused
// naming it, where it was ignored; GetTx and GetBlock show each tx's
// action decoded next to the signed bytes.
func TestAPIJSONErgonomics(t *testing.T) {
	c := nodetest.NewChain(t, nodetest.Options{})
	n := c.Start(t)
	tx := c.Official.Tx(nodetest.CreateRecord("lic-json", nodetest.BusinessLicense, "citizen0", []byte("x")))
	r := n.CommitOK(t, tx)
	hexHash, b64Hash := hex.EncodeToString(r.GetTxHash()), base64.StdEncoding.EncodeToString(r.GetTxHash())

	for _, form := range []string{hexHash, strings.ToUpper(hexHash), b64Hash} {
		code, m := postJSON(t, n, "GetTx", `{"tx_hash":"`+form+`"}`)
		if code != http.StatusOK {
			t.Fatalf("GetTx with %s: %d %v", form, code, m)
		}
		body, _ := m["body"].(map[string]any)
		cr, _ := body["createRecord"].(map[string]any)
		if body["signer"] != c.Official.ID || cr["recordId"] != "lic-json" || m["tx"] != base64.StdEncoding.EncodeToString(tx) {
			t.Fatalf("GetTx with %s: the decoded body or the signed bytes are missing: %v", form, m)
		}
	}
	for _, bad := range []string{hexHash[:62], hexHash + "00", "not-a-hash", b64Hash[:40]} {
		code, m := postJSON(t, n, "GetTx", `{"tx_hash":"`+bad+`"}`)
		msg, _ := m["message"].(string)
		if code != http.StatusBadRequest || m["code"] != "invalid_argument" || !strings.Contains(msg, "hex") || !strings.Contains(msg, "base64") {
			t.Errorf("GetTx with %q: %d %v, want invalid_argument naming hex and base64", bad, code, m)
		}
	}

	// A misspelled field: refused, named.
	code, m := postJSON(t, n, "GetTx", `{"tx_hsah":"`+hexHash+`"}`)
	if msg, _ := m["message"].(string); code != http.StatusBadRequest || m["code"] != "invalid_argument" || !strings.Contains(msg, `unknown field "tx_hsah"`) {
		t.Errorf("misspelled field: %d %v, want invalid_argument naming it", code, m)
	}
	code, m = postJSON(t, n, "SubmitTx", `{"tx":"`+base64.StdEncoding.EncodeToString(tx)+`","wait_for_comit":true}`)
	if msg, _ := m["message"].(string); code != http.StatusBadRequest || !strings.Contains(msg, `unknown field "wait_for_comit"`) {
		t.Errorf("SubmitTx with a misspelled field: %d %v", code, m)
	}
	// Both spellings protojson defines still work.
	if code, m := postJSON(t, n, "GetTx", `{"txHash":"`+b64Hash+`"}`); code != http.StatusOK {
		t.Errorf("GetTx with txHash: %d %v", code, m)
	}

	code, m = postJSON(t, n, "GetBlock", `{"height":"`+jsonUint(r.GetHeight())+`"}`)
	if code != http.StatusOK {
		t.Fatalf("GetBlock: %d %v", code, m)
	}
	bodies, _ := m["txBodies"].([]any)
	txs, _ := m["block"].(map[string]any)["txs"].([]any)
	if len(bodies) != len(txs) || len(txs) == 0 {
		t.Fatalf("GetBlock: %d tx bodies for %d txs", len(bodies), len(txs))
	}
	found := false
	for i, b := range bodies {
		if bytes.Equal([]byte(txs[i].(string)), []byte(base64.StdEncoding.EncodeToString(tx))) {
			cr, _ := b.(map[string]any)["createRecord"].(map[string]any)
			found = cr["recordId"] == "lic-json"
		}
	}
	if !found {
		t.Errorf("GetBlock: the tx's decoded body is not beside it: %v", bodies)
	}
}

func jsonUint(v uint64) string {
	b, _ := json.Marshal(v)
	return string(b)
}
