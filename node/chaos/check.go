package chaos

import (
	"bytes"
	"fmt"
	"sort"
	"time"
)

// Block is what the checker needs of one committed block.
type Block struct {
	Height uint64
	Hash   []byte
	// Txs are the SHA-256 hashes of the block's transactions, as strings.
	Txs []string
}

// Chain is one node's committed chain, blocks 1..len(Blocks) in order, and
// its own status once the network settled: the height, last block hash and
// state root it computed itself. Err is set when the node could not be
// read; its chain is then left out of the comparison and counted as a
// stall.
type Chain struct {
	Node      int
	Blocks    []Block
	Height    uint64
	LastHash  []byte
	StateRoot []byte
	Err       error
}

// Ack is a transaction the API confirmed committed: SubmitTx with
// wait_for_commit returned committed at Height, or GetTx returned it
// committed at Height.
type Ack struct {
	Tx     string
	Height uint64
	Node   int
}

// Death is a node process that exited without the schedule asking it to.
type Death struct {
	Node   int
	At     time.Duration
	Status string
}

// Observations are everything the harness saw of one schedule.
type Observations struct {
	Chains []Chain
	Acks   []Ack
	// HealHeight is the highest height any node reported at the final
	// heal; Recovery is the time from the final heal until every node
	// reached HealHeight+RecoveryBlocks, and Recovered whether that
	// happened within StallBound.
	HealHeight uint64
	Recovery   time.Duration
	Recovered  bool
	StallBound time.Duration
	// Settled is whether every node stood at one height once load stopped.
	Settled bool
	Deaths  []Death
}

// RecoveryBlocks is how many blocks past the height at the final heal every
// node must reach for the network to count as recovered.
const RecoveryBlocks = 2

// Finding is one violation, with what Check knows about it.
type Finding struct {
	Kind   string // fork, state-root, lost, duplicate, ack-height, stall, death
	Detail string
}

// Result is the checker's verdict on one schedule.
type Result struct {
	Forks      int // heights at which nodes start to disagree, plus state-root mismatches
	Lost       int // acknowledged txs missing from a node that is past their height, or acknowledged at another height
	Duplicates int // txs committed more than once on a node
	Stalls     int // 1 (per schedule) when the network did not recover or settle, or a node could not be read
	Deaths     int
	Findings   []Finding
}

// Failed reports whether the schedule broke a safety or liveness claim.
func (r Result) Failed() bool {
	return r.Forks+r.Lost+r.Duplicates+r.Stalls+r.Deaths > 0
}

func (r *Result) add(kind, format string, args ...any) {
	r.Findings = append(r.Findings, Finding{Kind: kind, Detail: fmt.Sprintf(format, args...)})
}

// maxFindings bounds the findings kept per kind; counts stay exact.
const maxFindings = 10

// Check compares the nodes' chains with each other and with the
// acknowledgements (ARCHITECTURE.md §7: no fork, no lost committed transaction):
//
//   - fork: at some height not above every node's head, two nodes hold
//     blocks with different hashes (counted once per height where the
//     disagreement starts), or settled nodes at one height report different
//     last block hashes or state roots;
//   - lost: an acknowledged tx is absent from a node whose chain reaches the
//     acknowledged height, or sits at another height than acknowledged;
//   - duplicate: a tx appears more than once in one node's chain;
//   - stall: no recovery within the bound after the final heal, nodes that
//     never settled at one height, or a node that could not be read;
//   - death: a node process exited other than by the schedule.
func Check(o Observations) Result {
	var r Result
	var chains []Chain
	stalled := false
	for _, c := range o.Chains {
		if c.Err != nil {
			stalled = true
			r.add("stall", "node%d could not be read: %v", c.Node, c.Err)
			continue
		}
		chains = append(chains, c)
	}

	// Forks: block hashes at every height up to the lowest head.
	if len(chains) > 0 {
		top := len(chains[0].Blocks)
		for _, c := range chains[1:] {
			top = min(top, len(c.Blocks))
		}
		forked := false
		for k := 0; k < top; k++ {
			ref := chains[0].Blocks[k]
			differ := false
			for _, c := range chains[1:] {
				if !bytes.Equal(c.Blocks[k].Hash, ref.Hash) {
					differ = true
					if !forked && r.Forks < maxFindings {
						r.add("fork", "height %d: node%d has %x, node%d has %x", ref.Height, chains[0].Node, short(ref.Hash), c.Node, short(c.Blocks[k].Hash))
					}
				}
			}
			if differ && !forked {
				r.Forks++
			}
			forked = differ
		}
	}
	// State roots (and last hashes) each node computed, among nodes at the
	// same height.
	byHeight := map[uint64][]Chain{}
	for _, c := range chains {
		byHeight[c.Height] = append(byHeight[c.Height], c)
	}
	for h, cs := range byHeight {
		for _, c := range cs[1:] {
			if !bytes.Equal(c.StateRoot, cs[0].StateRoot) {
				r.Forks++
				r.add("state-root", "height %d: node%d state root %x, node%d %x", h, cs[0].Node, short(cs[0].StateRoot), c.Node, short(c.StateRoot))
			}
			if !bytes.Equal(c.LastHash, cs[0].LastHash) {
				r.Forks++
				r.add("fork", "height %d: node%d last block %x, node%d %x", h, cs[0].Node, short(cs[0].LastHash), c.Node, short(c.LastHash))
			}
		}
	}

	// Exactly once: every tx's heights on every node.
	lost := map[string]bool{}
	dup := map[string]bool{}
	for _, c := range chains {
		where := map[string][]uint64{}
		for _, b := range c.Blocks {
			for _, tx := range b.Txs {
				where[tx] = append(where[tx], b.Height)
			}
		}
		for tx, hs := range where {
			if len(hs) > 1 && !dup[tx] {
				dup[tx] = true
				if len(dup) <= maxFindings {
					r.add("duplicate", "tx %x committed %d times on node%d, at heights %v", short([]byte(tx)), len(hs), c.Node, hs)
				}
			}
		}
		for _, a := range o.Acks {
			hs := where[a.Tx]
			switch {
			case len(hs) == 0 && uint64(len(c.Blocks)) >= a.Height:
				if !lost[a.Tx] {
					lost[a.Tx] = true
					if len(lost) <= maxFindings {
						r.add("lost", "tx %x acknowledged by node%d at height %d is not on node%d (head %d)", short([]byte(a.Tx)), a.Node, a.Height, c.Node, len(c.Blocks))
					}
				}
			case len(hs) > 0 && hs[0] != a.Height:
				if !lost[a.Tx] {
					lost[a.Tx] = true
					if len(lost) <= maxFindings {
						r.add("ack-height", "tx %x acknowledged by node%d at height %d is at height %d on node%d", short([]byte(a.Tx)), a.Node, a.Height, hs[0], c.Node)
					}
				}
			}
		}
	}
	r.Lost, r.Duplicates = len(lost), len(dup)

	// Liveness.
	if !o.Recovered {
		stalled = true
		r.add("stall", "not every node reached height %d (height at heal %d + %d) within %s of the final heal", o.HealHeight+RecoveryBlocks, o.HealHeight, RecoveryBlocks, o.StallBound)
	}
	if !o.Settled {
		stalled = true
		heights := map[int]uint64{}
		for _, c := range chains {
			heights[c.Node] = c.Height
		}
		r.add("stall", "nodes did not settle at one height after load stopped: %v", heights)
	}
	if stalled {
		r.Stalls++
	}

	deaths := append([]Death(nil), o.Deaths...)
	sort.Slice(deaths, func(i, j int) bool { return deaths[i].At < deaths[j].At })
	for _, d := range deaths {
		r.Deaths++
		r.add("death", "node%d exited at t=%.1fs outside the schedule: %s", d.Node, d.At.Seconds(), d.Status)
	}
	return r
}

func short(b []byte) []byte {
	if len(b) > 8 {
		return b[:8]
	}
	return b
}
