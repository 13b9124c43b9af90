package chaos

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// chainOf builds node's chain from per-height tx lists; block hashes are
// derived from the fork label and the height, so two chains with the same
// label agree.
func chainOf(node int, label string, txs ...[]string) Chain {
	c := Chain{Node: node}
	for k, t := range txs {
		h := uint64(k + 1)
		c.Blocks = append(c.Blocks, Block{Height: h, Hash: []byte(fmt.Sprintf("%s-%d", label, h)), Txs: t})
	}
	c.Height = uint64(len(txs))
	if len(c.Blocks) > 0 {
		c.LastHash = c.Blocks[len(c.Blocks)-1].Hash
	}
	c.StateRoot = []byte("root-" + label)
	return c
}

func healthy() Observations {
	blocks := [][]string{{"a", "b"}, {}, {"c"}, {"d"}}
	var o Observations
	for i := range 4 {
		o.Chains = append(o.Chains, chainOf(i, "main", blocks...))
	}
	o.Acks = []Ack{{Tx: "a", Height: 1}, {Tx: "c", Height: 3, Node: 2}, {Tx: "d", Height: 4, Node: 1}}
	o.HealHeight, o.Recovered, o.Settled, o.Recovery, o.StallBound = 1, true, true, 2*time.Second, time.Minute
	return o
}

func kinds(r Result) string {
	var ks []string
	for _, f := range r.Findings {
		ks = append(ks, f.Kind)
	}
	return strings.Join(ks, ",")
}

func TestCheckHealthy(t *testing.T) {
	r := Check(healthy())
	if r.Failed() || len(r.Findings) > 0 {
		t.Fatalf("healthy run reported %+v", r)
	}
}

func TestCheckFindings(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(o *Observations)
		want   Result // counts only
		kinds  string
	}{
		{"fork at height 3", func(o *Observations) {
			c := chainOf(3, "main", []string{"a", "b"}, []string{})
			other := chainOf(3, "evil", []string{"a", "b"}, []string{}, []string{"c"}, []string{"d"})
			c.Blocks = append(c.Blocks, other.Blocks[2:]...)
			c.Height, c.LastHash, c.StateRoot = other.Height, other.LastHash, []byte("root-main")
			o.Chains[3] = c
		}, Result{Forks: 2}, "fork,fork"}, // the diverging block, then the settled last hash
		{"state roots differ at one height", func(o *Observations) {
			o.Chains[1].StateRoot = []byte("root-other")
		}, Result{Forks: 1}, "state-root"},
		{"acknowledged tx missing on one node", func(o *Observations) {
			o.Chains[2].Blocks[2].Txs = nil
		}, Result{Lost: 1}, "lost"},
		{"acknowledged tx missing everywhere", func(o *Observations) {
			o.Acks = append(o.Acks, Ack{Tx: "never", Height: 2})
		}, Result{Lost: 1}, "lost"},
		{"acknowledged at another height", func(o *Observations) {
			o.Acks[1].Height = 2
		}, Result{Lost: 1}, "ack-height"},
		{"node behind its acks is not a loss", func(o *Observations) {
			o.Chains[0].Blocks = o.Chains[0].Blocks[:2]
			o.Chains[0].Height = 2
			o.Settled = false
		}, Result{Stalls: 1}, "stall"},
		{"duplicated tx", func(o *Observations) {
			o.Chains[0].Blocks[3].Txs = []string{"d", "a"}
		}, Result{Duplicates: 1}, "duplicate"},
		{"duplicated in the same block", func(o *Observations) {
			o.Chains[1].Blocks[0].Txs = []string{"a", "a", "b"}
		}, Result{Duplicates: 1}, "duplicate"},
		{"stall: no recovery after heal", func(o *Observations) {
			o.Recovered = false
		}, Result{Stalls: 1}, "stall"},
		{"unreadable node is a stall", func(o *Observations) {
			o.Chains[2].Err = fmt.Errorf("connection refused")
		}, Result{Stalls: 1}, "stall"},
		{"death outside the schedule", func(o *Observations) {
			o.Deaths = []Death{{Node: 1, At: 12 * time.Second, Status: "exit status 2"}}
		}, Result{Deaths: 1}, "death"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := healthy()
			tc.mutate(&o)
			r := Check(o)
			if !r.Failed() {
				t.Fatalf("not reported: %+v", r)
			}
			got := Result{Forks: r.Forks, Lost: r.Lost, Duplicates: r.Duplicates, Stalls: r.Stalls, Deaths: r.Deaths}
			want := tc.want
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("counts %+v, want %+v\nfindings: %+v", got, want, r.Findings)
			}
			if k := kinds(r); k != tc.kinds {
				t.Errorf("finding kinds %q, want %q: %+v", k, tc.kinds, r.Findings)
			}
		})
	}
}
