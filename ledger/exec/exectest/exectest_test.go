package exectest_test

import (
	"errors"
	"testing"

	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/exec/exectest"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

func TestStore(t *testing.T) {
	s := exectest.NewStore()
	s.Apply([]exec.Change{{Key: []byte("a"), Value: []byte("1")}, {Key: []byte("c"), Value: []byte("3")}})
	s.Apply([]exec.Change{{Key: []byte("b"), Value: []byte("2")}, {Key: []byte("c"), Delete: true}, {Key: []byte("z"), Delete: true}})
	if s.Len() != 2 {
		t.Fatalf("len %d", s.Len())
	}
	if v, err := s.Get([]byte("b")); err != nil || string(v) != "2" {
		t.Fatalf("get b: %q %v", v, err)
	}
	if _, err := s.Get([]byte("c")); !errors.Is(err, exec.ErrNotFound) {
		t.Fatalf("get c: %v", err)
	}
	var got []string
	if err := s.Iterate([]byte("a"), []byte("b"), func(k, _ []byte) error { got = append(got, string(k)); return nil }); err != nil || len(got) != 1 {
		t.Fatalf("iterate [a,b): %v %v", got, err)
	}
	stop := errors.New("stop")
	if err := s.Iterate(nil, nil, func(_, _ []byte) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("iterate error: %v", err)
	}
	o := exectest.NewStore()
	o.Apply([]exec.Change{{Key: []byte("a"), Value: []byte("1")}, {Key: []byte("b"), Value: []byte("2")}})
	if !s.Equal(o) || len(s.Keys()) != 2 {
		t.Fatal("equal stores differ")
	}
	s.FailGet = "a"
	if _, err := s.Get([]byte("a")); err == nil || errors.Is(err, exec.ErrNotFound) {
		t.Fatalf("injected failure: %v", err)
	}
}

func TestFixtureChain(t *testing.T) {
	f := exectest.NewFixture(2)
	c, err := f.NewChain(exec.DefaultConfig(exectest.ChainID))
	if err != nil {
		t.Fatal(err)
	}
	tx := f.S("new-citizen").Tx(&pb.TxBody{Action: &pb.TxBody_RevokeGrant{RevokeGrant: &pb.RevokeGrant{GrantId: "g"}}})
	res, err := c.Apply(tx, f.S("cit0").Tx(&pb.TxBody{Action: &pb.TxBody_RevokeGrant{RevokeGrant: &pb.RevokeGrant{GrantId: "g"}}}))
	if err != nil {
		t.Fatal(err)
	}
	if res.Results[0].GetCode() != pb.ResultCode_RESULT_CODE_UNKNOWN_SIGNER || res.Results[1].GetCode() != pb.ResultCode_RESULT_CODE_NOT_FOUND {
		t.Fatalf("results %v", res.Results)
	}
	if c.Height != 1 || c.TimeMs != exectest.GenesisTimeMs {
		t.Fatalf("height %d time %d", c.Height, c.TimeMs)
	}
	if _, err := f.NewChain(exec.Config{}); err == nil {
		t.Fatal("bad config accepted")
	}
	f.Genesis.ChainId = "x"
	if _, err := f.NewChain(exec.DefaultConfig(exectest.ChainID)); err == nil {
		t.Fatal("bad genesis accepted")
	}
	if _, err := c.ApplyAt(0, []byte{1}); err != nil {
		t.Fatal(err)
	}
	c.Store.FailGet = string(exec.ParamsKey())
	if _, err := c.Apply(); err == nil {
		t.Fatal("storage failure not reported")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("fixture of 1 department did not panic")
		}
	}()
	exectest.NewFixture(1)
}
