package chaos

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/govnode/govnode/consensus"
)

// Block is what the checker needs of one committed block.
type Block struct {
	Height uint64
	Hash   []byte
	// Txs are the SHA-256 hashes of the block's transactions, as strings.
	Txs []string
	// Signers are the departments whose votes are in the block's commit
	// certificate (GetBlockResponse.signer_ids).
	Signers []string
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
	// Validators are the departments of the set the node reports in force.
	Validators []string
	Err        error
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

// MemberChange is a validator-set change a membership schedule made by
// governance: department Dept (node Node) added or removed.
type MemberChange struct {
	Add  bool
	Dept string
	Node int
	// Passed: the proposal passed at Decided; the set it decided is in
	// force from Effective. Err says why the harness could not pass it.
	Passed    bool
	Decided   uint64
	Effective uint64
	Err       string
}

func (m MemberChange) String() string {
	what := "remove"
	if m.Add {
		what = "add"
	}
	return fmt.Sprintf("%s %s", what, m.Dept)
}

// Observations are everything the harness saw of one schedule.
type Observations struct {
	// Chains are the chains of the members at the end (every node whose
	// progress the schedule expects), then those of nodes removed by
	// governance (still running, no longer expected to advance).
	Chains []Chain
	// Members are the nodes of Chains expected to be validators at the
	// end; their chains define the committed chain.
	Members []int
	// Changes are the membership changes made, in order, and
	// WantValidators the departments every member must report in force at
	// the end (nil: not checked).
	Changes        []MemberChange
	WantValidators []string
	// GenesisValidators is the size of the genesis validator set (a
	// byzantine one); when set, every certificate of the committed chain
	// must hold a quorum of the set the changes put in force at its
	// height.
	GenesisValidators int

	Acks []Ack
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
	Kind   string // fork, state-root, lost, duplicate, ack-height, stall, death, membership
	Detail string
}

// Result is the checker's verdict on one schedule.
type Result struct {
	Forks      int // heights at which nodes start to disagree, plus state-root mismatches
	Lost       int // acknowledged txs missing from a node that is past their height, or acknowledged at another height
	Duplicates int // txs committed more than once on a node
	Stalls     int // 1 (per schedule) when the network did not recover or settle, or a node could not be read
	Deaths     int
	// Membership counts membership changes that did not pass or apply
	// as decided (Changes), and members reporting another set in force.
	Membership int
	Findings   []Finding
}

// Failed reports whether the schedule broke a safety or liveness claim.
func (r Result) Failed() bool {
	return r.Forks+r.Lost+r.Duplicates+r.Stalls+r.Deaths+r.Membership > 0
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
//   - death: a node process exited other than by the schedule;
//   - membership: a change that did not pass, a department added whose
//     validator signs no commit certificate from its activation height
//     on (or one before), a removed department that still signs from its
//     removal on, a chain that never reached a change's activation, a
//     member reporting another set in force than WantValidators.
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

	// Forks: block hashes at every height among the nodes that hold it (a
	// node removed by governance stops early; the others go on being
	// compared above its head).
	top := 0
	for _, c := range chains {
		top = max(top, len(c.Blocks))
	}
	forked := false
	for k := 0; k < top; k++ {
		var ref *Chain
		differ := false
		for i := range chains {
			c := &chains[i]
			if len(c.Blocks) <= k {
				continue
			}
			if ref == nil {
				ref = c
				continue
			}
			if !bytes.Equal(c.Blocks[k].Hash, ref.Blocks[k].Hash) {
				differ = true
				if !forked && r.Forks < maxFindings {
					r.add("fork", "height %d: node%d has %x, node%d has %x", ref.Blocks[k].Height, ref.Node, short(ref.Blocks[k].Hash), c.Node, short(c.Blocks[k].Hash))
				}
			}
		}
		if differ && !forked {
			r.Forks++
		}
		forked = differ
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

	checkMembership(o, chains, &r)

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

// checkMembership adds the membership findings of o to r: each change
// passed and applied on the committed chain (the longest member chain),
// and every member reports the set expected in force.
func checkMembership(o Observations, chains []Chain, r *Result) {
	member := map[int]bool{}
	for _, i := range o.Members {
		member[i] = true
	}
	ref := committed(o, chains)
	fail := func(format string, args ...any) {
		r.Membership++
		r.add("membership", format, args...)
	}
	for k, m := range o.Changes {
		switch {
		case !m.Passed:
			fail("%s did not pass: %s", m, m.Err)
			continue
		case ref == nil:
			fail("%s: no member chain to check it on", m)
			continue
		case uint64(len(ref.Blocks)) < m.Effective:
			fail("%s decided at %d, in force from %d: the chain (node%d) ends at %d", m, m.Decided, m.Effective, ref.Node, len(ref.Blocks))
			continue
		}
		end := changeEnd(o, k, ref)
		signs := func(h uint64) bool { return slices.Contains(ref.Blocks[h-1].Signers, m.Dept) }
		if m.Add {
			// The certificate of block h is signed by the set in force at
			// h (GetBlockResponse.signer_ids; a suffix child of the last
			// block of an epoch is that epoch's).
			first := uint64(0)
			for h := uint64(1); h <= end; h++ {
				if signs(h) {
					first = h
					break
				}
			}
			switch {
			case first == 0:
				fail("%s in force from %d: its validator signs no commit certificate of blocks %d..%d (node%d)", m, m.Effective, m.Effective, end, ref.Node)
			case first < m.Effective:
				fail("%s in force from %d: its validator signs the certificate of block %d, before", m, m.Effective, first)
			}
		} else {
			for h := m.Effective; h <= end; h++ {
				if signs(h) {
					fail("%s in force from %d: its validator still signs the certificate of block %d", m, m.Effective, h)
					break
				}
			}
		}
	}
	if o.GenesisValidators > 0 && ref != nil {
		checkQuorums(o, ref, fail)
	}
	if o.WantValidators == nil {
		return
	}
	want := slices.Clone(o.WantValidators)
	slices.Sort(want)
	for _, c := range chains {
		if !member[c.Node] {
			continue
		}
		got := slices.Clone(c.Validators)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			fail("node%d reports validators %v in force at height %d, want %v", c.Node, got, c.Height, want)
		}
	}
}

// committed is the longest readable member chain of chains (nil: none).
func committed(o Observations, chains []Chain) *Chain {
	var ref *Chain
	for i := range chains {
		if chains[i].Err == nil && slices.Contains(o.Members, chains[i].Node) && (ref == nil || len(chains[i].Blocks) > len(ref.Blocks)) {
			ref = &chains[i]
		}
	}
	return ref
}

// changeEnd is the last height of ref over which change k holds: before
// the next change of the same department, or ref's head.
func changeEnd(o Observations, k int, ref *Chain) uint64 {
	end := uint64(len(ref.Blocks))
	for _, n := range o.Changes[k+1:] {
		if n.Dept == o.Changes[k].Dept && n.Passed && n.Effective > 0 {
			return min(end, n.Effective-1)
		}
	}
	return end
}

// MembershipNotes say, for each change that passed, in how many commit
// certificates of the committed chain its department's validator signed
// before and after the change took effect: the evidence behind Check's
// verdict, for the schedule's log.
func MembershipNotes(o Observations) []string {
	ref := committed(o, o.Chains)
	if ref == nil {
		return nil
	}
	var out []string
	for k, m := range o.Changes {
		if !m.Passed || m.Effective == 0 || uint64(len(ref.Blocks)) < m.Effective {
			continue
		}
		end := changeEnd(o, k, ref)
		count := func(lo, hi uint64) (n int) {
			for h := max(lo, 1); h <= hi; h++ {
				if slices.Contains(ref.Blocks[h-1].Signers, m.Dept) {
					n++
				}
			}
			return n
		}
		// Before: from the previous change of the department, if any.
		lo := uint64(1)
		for _, p := range o.Changes[:k] {
			if p.Dept == m.Dept && p.Passed {
				lo = p.Effective
			}
		}
		out = append(out, fmt.Sprintf("%s (decided %d, in force from %d): %s signs %d of the certificates of blocks %d..%d before, %d of blocks %d..%d from then on (node%d's chain)",
			m, m.Decided, m.Effective, m.Dept, count(lo, m.Effective-1), lo, m.Effective-1, count(m.Effective, end), m.Effective, end, ref.Node))
	}
	return out
}

// checkQuorums checks that every certificate of ref holds a quorum of the
// set in force at its block's height, by the set sizes the changes that
// passed imply: a set that grew must certify with the larger quorum (4 of
// 5), the proof that the new validator's votes count.
func checkQuorums(o Observations, ref *Chain, fail func(string, ...any)) {
	var bad []uint64
	first := ""
	for _, b := range ref.Blocks {
		n := o.GenesisValidators
		for _, m := range o.Changes {
			if m.Passed && m.Effective > 0 && b.Height >= m.Effective {
				if m.Add {
					n++
				} else {
					n--
				}
			}
		}
		q := consensus.Quorum(consensus.Byzantine, n)
		if len(b.Signers) >= q {
			continue
		}
		if bad = append(bad, b.Height); len(bad) == 1 {
			first = fmt.Sprintf("block %d signed by %v, below the quorum of %d of the %d validators in force", b.Height, b.Signers, q, n)
		}
	}
	if len(bad) > 0 {
		fail("%d certificates below the quorum of the set in force (node%d's chain), the first: %s", len(bad), ref.Node, first)
	}
}
