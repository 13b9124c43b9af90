package exec_test

import (
	"fmt"
	"testing"

	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/exec/exectest"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// BenchmarkBlock1000 measures what validating and applying one block of
// 1,000 signed txs (grants by 40 citizens) costs a node, by how the node met
// its txs. "unseen": none before (block sync, or a proposal of txs gossip
// has not brought): ApplyBlock verifies every signature. "proposal": the
// same, with proposal validation (PreverifyTxs) verifying them first, as
// node's ValidateBlock does; both are timed. "mempool": the mempool
// verified every tx (CheckTx, untimed), so nothing is verified. One op is
// one block; signatures are verified over GOMAXPROCS workers (-cpu).
func BenchmarkBlock1000(b *testing.B) {
	const n, signers = 1000, 40
	f := exectest.NewFixture(2)
	for i := range signers {
		id := fmt.Sprintf("bench%d", i)
		f.Genesis.Identities = append(f.Genesis.Identities, &pb.Identity{
			Id: id, Kind: citizen, DepartmentId: "d0", DisplayName: id, PublicKey: f.S(id).Key.Public(),
		})
	}
	txs := make([][]byte, n)
	for i := range txs {
		txs[i] = f.S(fmt.Sprintf("bench%d", i%signers)).Tx(grant(fmt.Sprintf("g%d", i), "d1", "", exectest.LandTitle, 1<<40))
	}
	for _, mode := range []string{"unseen", "proposal", "mempool"} {
		b.Run(mode, func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				cfg := exec.DefaultConfig(exectest.ChainID)
				if mode != "unseen" {
					cfg.SigCache = &mapCache{}
				}
				c, err := f.NewChain(cfg)
				if err != nil {
					b.Fatal(err)
				}
				if mode == "mempool" {
					for _, tx := range txs {
						if _, err := c.Exec.CheckTx(c.Store, tx); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.StartTimer()
				if mode == "proposal" {
					if _, err := c.Exec.PreverifyTxs(c.Store, txs); err != nil {
						b.Fatal(err)
					}
				}
				res, err := c.Exec.ApplyBlock(c.Store, c.Header(exectest.GenesisTimeMs), txs)
				if err != nil {
					b.Fatal(err)
				}
				if r := res.Results[n-1]; r.GetCode() != codeOK {
					b.Fatalf("%v %s", r.GetCode(), r.GetReason())
				}
			}
		})
	}
}
