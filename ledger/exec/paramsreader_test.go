package exec_test

import (
	"testing"

	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/exec/exectest"
	pb "github.com/govnode/govnode/proto/govnode/v1"
	"google.golang.org/protobuf/proto"
)

// withParams is a Reader that holds decoded parameters (as the block
// executor's admission reader does).
type withParams struct {
	exec.Reader
	p *pb.Params
}

func (r withParams) Params() *pb.Params { return r.p }

// Check takes the parameters a ParamsReader holds instead of reading the
// params record, and reads the record when the reader holds none.
func TestCheckUsesTheReadersParams(t *testing.T) {
	f := exectest.NewFixture(2)
	c, err := f.NewChain(exec.DefaultConfig(exectest.ChainID))
	if err != nil {
		t.Fatal(err)
	}
	tx := f.S("cit0").Tx(&pb.TxBody{Action: &pb.TxBody_RegisterSubject{RegisterSubject: &pb.RegisterSubject{}}})
	res, err := c.Exec.CheckTx(c.Store, tx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Code == pb.ResultCode_RESULT_CODE_TOO_LARGE {
		t.Fatalf("a %d-byte tx refused as too large under the genesis parameters", len(tx))
	}
	small := proto.Clone(f.Genesis.GetParams()).(*pb.Params)
	small.MaxTxBytes = uint64(len(tx) - 1)
	res, err = c.Exec.Check(withParams{c.Store, small}, c.Exec.Tx(tx))
	if err != nil {
		t.Fatal(err)
	}
	if res.Code != pb.ResultCode_RESULT_CODE_TOO_LARGE {
		t.Fatalf("with the reader's max_tx_bytes %d below the tx's %d bytes: code %v (%s), want TOO_LARGE", small.MaxTxBytes, len(tx), res.Code, res.Reason)
	}
	res, err = c.Exec.Check(withParams{c.Store, nil}, c.Exec.Tx(tx))
	if err != nil {
		t.Fatal(err)
	}
	if res.Code == pb.ResultCode_RESULT_CODE_TOO_LARGE {
		t.Fatal("a reader without parameters did not fall back to the params record")
	}
}
