package lightclient_test

import (
	"testing"

	"github.com/govnode/govnode/ledger/lightclient"
	"github.com/govnode/govnode/ledger/lightclient/lightclienttest"
)

func TestBundleSmoke(t *testing.T) {
	c := lightclienttest.NewChain(t)
	raw := c.Bundle(t, lightclienttest.Record, 0)
	rep, err := lightclient.VerifyBundle(raw, c.GenesisHash)
	if err != nil {
		t.Fatalf("%v\n%+v", err, rep.Failures)
	}
	t.Logf("%d bytes, %+v", len(raw), rep)
}
