package chaos

import (
	"fmt"
	"slices"
	"testing"
)

// joined is a membership schedule's observations with every change
// applied: a chain of 9 blocks; dept4 joins in force from 4 and signs
// from there, dept2 leaves in force from 7 and signs no more, its node
// stops at 6; blocks are certified by 3 of 4, then 4 of 5, then 3 of 4.
func joined() Observations {
	o := healthy()
	signers := func(h int) []string {
		switch {
		case h < 4:
			return []string{"dept0", "dept1", "dept2"}
		case h < 7:
			return []string{"dept0", "dept1", "dept2", "dept4"}
		default:
			return []string{"dept0", "dept3", "dept4"}
		}
	}
	blocks := make([][]string, 9)
	blocks[0] = []string{"a", "b"}
	blocks[2], blocks[3] = []string{"c"}, []string{"d"}
	o.Chains = nil
	for _, i := range []int{0, 1, 3, 4, 2} {
		c := chainOf(i, "main", blocks...)
		for k := range c.Blocks {
			c.Blocks[k].Signers = signers(k + 1)
		}
		c.Validators = []string{"dept0", "dept1", "dept3", "dept4"}
		if i == 2 {
			c.Blocks, c.Height, c.LastHash = c.Blocks[:6], 6, c.Blocks[5].Hash
			c.StateRoot = []byte("root-6")
			c.Validators = []string{"dept0", "dept1", "dept2", "dept3", "dept4"}
		}
		o.Chains = append(o.Chains, c)
	}
	o.Members = []int{0, 1, 3, 4}
	o.Changes = []MemberChange{
		{Add: true, Dept: "dept4", Node: 4, Passed: true, Decided: 2, Effective: 4},
		{Dept: "dept2", Node: 2, Passed: true, Decided: 5, Effective: 7},
	}
	o.WantValidators = []string{"dept0", "dept1", "dept3", "dept4"}
	o.GenesisValidators = 4
	return o
}

func TestCheckMembershipHealthy(t *testing.T) {
	o := joined()
	if r := Check(o); r.Failed() || len(r.Findings) > 0 {
		t.Fatalf("applied changes reported %+v", r)
	}
	notes := MembershipNotes(o)
	want := []string{
		"add dept4 (decided 2, in force from 4): dept4 signs 0 of the certificates of blocks 1..3 before, 6 of blocks 4..9 from then on (node0's chain)",
		"remove dept2 (decided 5, in force from 7): dept2 signs 6 of the certificates of blocks 1..6 before, 0 of blocks 7..9 from then on (node0's chain)",
	}
	if !slices.Equal(notes, want) {
		t.Fatalf("notes\n%q\nwant\n%q", notes, want)
	}
}

func TestCheckMembershipFindings(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(o *Observations)
		want   Result
		kinds  string
	}{
		{"the join did not pass", func(o *Observations) {
			o.Changes[0] = MemberChange{Add: true, Dept: "dept4", Node: 4, Err: "proposal refused"}
			o.Changes = o.Changes[:1]
			o.WantValidators = nil
			o.GenesisValidators = 0
		}, Result{Membership: 1}, "membership"},
		{"the joiner signs no certificate", func(o *Observations) {
			for k := range o.Chains {
				for b := range o.Chains[k].Blocks {
					o.Chains[k].Blocks[b].Signers = slices.DeleteFunc(o.Chains[k].Blocks[b].Signers, func(s string) bool { return s == "dept4" })
				}
			}
			o.GenesisValidators = 0
		}, Result{Membership: 1}, "membership"},
		{"the joiner signs before its activation", func(o *Observations) {
			for k := range o.Chains {
				o.Chains[k].Blocks[2].Signers = append(o.Chains[k].Blocks[2].Signers, "dept4")
			}
		}, Result{Membership: 1}, "membership"},
		{"the removed department still signs", func(o *Observations) {
			for k := range o.Chains {
				if len(o.Chains[k].Blocks) > 7 {
					o.Chains[k].Blocks[7].Signers = append(o.Chains[k].Blocks[7].Signers, "dept2")
				}
			}
		}, Result{Membership: 1}, "membership"},
		{"the chain never reaches the removal", func(o *Observations) {
			// Nor do its certificates hold the quorum of 5 expected then.
			o.Changes[1].Effective = 20
		}, Result{Membership: 2}, "membership,membership"},
		{"the grown set certifies with the old quorum", func(o *Observations) {
			for k := range o.Chains {
				o.Chains[k].Blocks[4].Signers = []string{"dept0", "dept1", "dept4"}
			}
		}, Result{Membership: 1}, "membership"},
		{"a member reports another set in force", func(o *Observations) {
			o.Chains[3].Validators = []string{"dept0", "dept1", "dept2", "dept3"}
		}, Result{Membership: 1}, "membership"},
		{"a fork above the removed node's head", func(o *Observations) {
			o.Chains[1].Blocks[7].Hash = []byte("evil-8")
		}, Result{Forks: 1}, "fork"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := joined()
			tc.mutate(&o)
			r := Check(o)
			if !r.Failed() {
				t.Fatalf("not reported: %+v", r)
			}
			got := Result{Forks: r.Forks, Lost: r.Lost, Duplicates: r.Duplicates, Stalls: r.Stalls, Deaths: r.Deaths, Membership: r.Membership}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("counts %+v, want %+v\nfindings: %+v", got, tc.want, r.Findings)
			}
			if k := kinds(r); k != tc.kinds {
				t.Errorf("finding kinds %q, want %q: %+v", k, tc.kinds, r.Findings)
			}
		})
	}
}
