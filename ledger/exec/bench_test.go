package exec_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/exec/exectest"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// workload is a pre-signed sequence of blocks with a realistic mix of
// department work. Citizens come in cohorts; each block carries four
// phases of four cohorts (a pipeline), so every block has the same mix:
//
//	A register the cohort's citizens (registrar)
//	B create a land title (on chain, 512 B) and a birth certificate (hash
//	  only) per citizen, issue a credential, the citizen grants d1 access
//	  to its land title, a tender is created and signed by the buyer
//	C d0 and d1 (with the grant) auditors access the land title, d0
//	  amends it, the citizen consents to transfer it; the supplier signs
//	  the tender and submits a milestone
//	D d0 transfers the land title, d2 tries to access it without a grant
//	  (refused: consent required), the buyer accepts the milestone
type workload struct {
	f      *exectest.Fixture
	blocks [][][]byte
	txs    int
}

func buildWorkload(cohort, nblocks int) *workload {
	f := exectest.NewFixture(3)
	w := &workload{f: f}
	s := f.S
	content := make([]byte, 512)
	for i := range content {
		content[i] = byte('a' + i%26)
	}
	cit := func(k, i int) string { return fmt.Sprintf("c%d-%d", k, i) }
	rec := func(k, i int) string { return fmt.Sprintf("lt%d-%d", k, i) }
	ctr := func(k int) string { return fmt.Sprintf("tender%d", k) }
	deadline := exectest.GenesisTimeMs/1000 + 365*day
	for b := range nblocks {
		var txs [][]byte
		if k := b; k < nblocks-3 { // phase A
			for i := range cohort {
				txs = append(txs, s("d0.registrar").Tx(regSubject(cit(k, i), citizen)))
			}
		}
		if k := b - 1; k >= 0 && k < nblocks-3 { // phase B
			for i := range cohort {
				txs = append(txs,
					s("d0.issuer").Tx(createRec(rec(k, i), exectest.LandTitle, cit(k, i), content)),
					s("d1.issuer").Tx(createRecHash(fmt.Sprintf("bc%d-%d", k, i), exectest.BirthCert, cit(k, i), hash(cit(k, i)))),
					s("d1.issuer").Tx(issueCred(fmt.Sprintf("cr%d-%d", k, i), cit(k, i), 0)),
					s(cit(k, i)).Tx(grant(fmt.Sprintf("g%d-%d", k, i), "d1", rec(k, i), "", deadline)),
				)
			}
			txs = append(txs, s("d0.issuer").Tx(createTender(ctr(k), "d0.issuer", "co0", deadline, day)), s("d0.issuer").Tx(sign(ctr(k))))
		}
		if k := b - 2; k >= 0 && k < nblocks-3 { // phase C
			for i := range cohort {
				txs = append(txs,
					s("d0.auditor").Tx(access(rec(k, i), "annual audit")),
					s("d1.auditor").Tx(access(rec(k, i), "benefit claim")),
					s("d0.issuer").Tx(amendRec(rec(k, i), 1, content[:256])),
					s(cit(k, i)).Tx(consent(rec(k, i), cit(k, (i+1)%cohort), deadline)),
				)
			}
			txs = append(txs, s("co0").Tx(sign(ctr(k))), s("co0").Tx(submitMS(ctr(k), "goods_delivered")))
		}
		if k := b - 3; k >= 0 { // phase D
			for i := range cohort {
				txs = append(txs,
					s("d0.issuer").Tx(transfer(rec(k, i), cit(k, (i+1)%cohort))),
					s("d2.auditor").Tx(access(rec(k, i), "curious")),
				)
			}
			txs = append(txs, s("d0.issuer").Tx(acceptMS(ctr(k), "goods_delivered")))
		}
		w.blocks = append(w.blocks, txs)
		w.txs += len(txs)
	}
	return w
}

// TestWorkloadIsRealistic checks the benchmark's workload does what it says.
func TestWorkloadIsRealistic(t *testing.T) {
	w := buildWorkload(10, 8)
	c, err := w.f.NewChain(exec.DefaultConfig(exectest.ChainID))
	if err != nil {
		t.Fatal(err)
	}
	codes := map[pb.ResultCode]int{}
	for _, txs := range w.blocks {
		res, err := c.Apply(txs...)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res.Results {
			codes[r.GetCode()]++
			if r.GetCode() != codeOK && r.GetCode() != codeConsent {
				t.Fatalf("unexpected %v: %s", r.GetCode(), r.GetReason())
			}
		}
	}
	if codes[codeConsent] != 50 || codes[codeOK] != w.txs-50 {
		t.Fatalf("codes %v of %d txs", codes, w.txs)
	}
}

type mapCache struct{ m sync.Map }

func (c *mapCache) Seen(k []byte) bool { _, ok := c.m.Load(string(k)); return ok }
func (c *mapCache) Add(k []byte)       { c.m.Store(string(k), struct{}{}) }

// BenchmarkApplyBlock measures ApplyBlock throughput on the workload above:
// blocks of ~1,000 txs (cohorts of 90 citizens), each iteration from a
// fresh genesis store. Committing the changes to the in-memory store is
// excluded from the timing. "verify" checks every signature in ApplyBlock
// (block sync, or a proposal of txs this node never saw); "preverify" is a
// proposal of unseen txs: proposal validation verifies them (PreverifyTxs,
// timed) and ApplyBlock reuses the verdicts; "sigcache" reuses the
// mempool's verdicts (CheckTx ran first, untimed). Signatures are verified
// in batches over GOMAXPROCS workers (go test -cpu sets it).
func BenchmarkApplyBlock(b *testing.B) {
	const cohort, nblocks = 90, 12
	w := buildWorkload(cohort, nblocks)
	for _, mode := range []string{"verify", "preverify", "sigcache"} {
		b.Run(mode, func(b *testing.B) {
			var total time.Duration
			var ntx int
			for range b.N {
				b.StopTimer()
				cfg := exec.DefaultConfig(exectest.ChainID)
				cache := &mapCache{}
				if mode != "verify" {
					cfg.SigCache = cache
				}
				c, err := w.f.NewChain(cfg)
				if err != nil {
					b.Fatal(err)
				}
				for _, txs := range w.blocks {
					if mode == "sigcache" {
						// The mempool checked these against the previous state.
						for _, tx := range txs {
							if _, err := c.Exec.CheckTx(c.Store, tx); err != nil {
								b.Fatal(err)
							}
						}
					}
					start := time.Now()
					b.StartTimer()
					if mode == "preverify" {
						if _, err := c.Exec.PreverifyTxs(c.Store, txs); err != nil {
							b.Fatal(err)
						}
					}
					res, err := c.Exec.ApplyBlock(c.Store, c.Header(c.TimeMs+1000), txs)
					b.StopTimer()
					total += time.Since(start)
					ntx += len(txs)
					if err != nil {
						b.Fatal(err)
					}
					c.Store.Apply(res.Changes)
					c.Height++
					c.TimeMs += 1000
				}
			}
			b.ReportMetric(float64(ntx)/total.Seconds(), "tx/s")
			b.ReportMetric(float64(w.txs)/float64(nblocks), "tx/block")
		})
	}
}
