package consensus_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/consensus"
	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// TestTraces replays the protocol scenarios in testdata/traces/*.txt (etcd
// raft's datadriven style): each command drives a lock-step network of
// cores and prints what they did, every outgoing message, persisted safety
// state, commit and piece of evidence, in order. A change to the protocol
// shows up as a diff of these files; `go test ./consensus -run TestTraces
// -rewrite` rewrites them after a reviewed change.
//
// Commands:
//
//	init n=4 model=byzantine    a fresh network (validator keys seeded)
//	pending r=0[,1…]            those replicas' mempools hold txs
//	deliver                     run the network until no message is left
//	tick n=5                    tick every running core n times, delivering after each
//	isolate r=0 / heal          drop every message to and from r / stop dropping
//	stop r=0 / restart r=0      crash r / restart it from its persisted state and ledger
//	crash-at-commit r=0[,1…]    each stops at its next Ready that commits, before storing
//	equivocate r=0 to=2,3       r's next proposal reaches those replicas as a twin
//	status                      each replica's view, commit and safety position
func TestTraces(t *testing.T) {
	datadriven.Walk(t, "testdata/traces", func(t *testing.T, path string) {
		var h *harness
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			var out strings.Builder
			if d.Cmd != "init" && h == nil {
				d.Fatalf(t, "%s before init", d.Cmd)
			}
			if h != nil {
				h.t = t
				h.trace = func(format string, args ...any) { fmt.Fprintf(&out, format+"\n", args...) }
			}
			switch d.Cmd {
			case "init":
				n, model := 4, consensus.Byzantine
				for _, a := range d.CmdArgs {
					switch a.Key {
					case "n":
						n = atoi(t, d, a.Vals[0])
					case "model":
						model = consensus.FaultModel(a.Vals[0])
					}
				}
				h = newHarness(t, n, model)
				fmt.Fprintf(&out, "%d replicas, %s, quorum %d\n", n, model, consensus.Quorum(model, n))
			case "pending":
				for _, r := range replicas(t, d, h) {
					h.pending[r] = true
				}
				h.deliver()
			case "deliver":
				h.deliver()
			case "tick":
				h.tick(atoi(t, d, arg(t, d, "n")))
			case "isolate":
				r := replicas(t, d, h)
				h.drop = func(from, to int, m *pb.ConsensusMessage) bool {
					return slices.Contains(r, from) || slices.Contains(r, to)
				}
			case "heal":
				h.drop = nil
			case "stop":
				for _, r := range replicas(t, d, h) {
					h.cores[r] = nil
				}
			case "restart":
				for _, r := range replicas(t, d, h) {
					h.start(r)
					fmt.Fprintf(&out, "r%d restarts at committed height %d\n", r, h.committedHeight(r))
					h.process(r)
				}
			case "crash-at-commit":
				for _, r := range replicas(t, d, h) {
					h.crashAtCommit[r] = true
				}
			case "equivocate":
				equivocate(t, d, h)
			case "status":
			default:
				d.Fatalf(t, "unknown command %s", d.Cmd)
			}
			for i, c := range h.cores {
				if c == nil {
					fmt.Fprintf(&out, "r%d: down\n", i)
					continue
				}
				if d.Cmd != "status" {
					continue
				}
				st := c.Status()
				fmt.Fprintf(&out, "r%d: view=%d leader=%d committed=%d high_qc=(%d,%d) voted=(%d,%s)\n", i, st.View, st.Leader,
					st.CommittedHeight, st.HighQCView, st.HighQCHeight, st.LastVotedView, voteHeight(st.LastVotedHeight))
			}
			if out.Len() == 0 {
				return "ok\n"
			}
			return out.String()
		})
	})
}

// equivocate makes replica r's next proposal reach the replicas in to as
// a twin: the same view and height, another header, signed by r.
func equivocate(t *testing.T, d *datadriven.TestData, h *harness) {
	r := atoi(t, d, arg(t, d, "r"))
	var to []int
	for _, v := range strings.Split(arg(t, d, "to"), ",") {
		to = append(to, atoi(t, d, v))
	}
	twins := map[string]*pb.ConsensusMessage{}
	h.rewrite = func(from, dst int, m *pb.ConsensusMessage) *pb.ConsensusMessage {
		p := m.GetProposal()
		if from != r || p == nil || !slices.Contains(to, dst) {
			return m
		}
		key := string(p.GetBlock().GetHeader())
		if tw := twins[key]; tw != nil {
			h.tracef("r%d => r%d: twin %s", from, dst, describe(tw))
			return tw
		}
		hdr := new(pb.Header)
		if err := proto.Unmarshal(p.GetBlock().GetHeader(), hdr); err != nil {
			t.Fatal(err)
		}
		hdr.TimeUnixMs = 99
		hb, err := proto.Marshal(hdr)
		if err != nil {
			t.Fatal(err)
		}
		tw := proto.Clone(m).(*pb.ConsensusMessage)
		tw.GetProposal().Block.Header = hb
		tw.GetProposal().Block.Signature, err = h.keys[r].Sign(crypto.ProposalSignBytes(h.cfg.ChainID, crypto.Ed25519SHA256.Hash(hb)))
		if err != nil {
			t.Fatal(err)
		}
		twins[key] = tw
		h.tracef("r%d => r%d: twin %s", from, dst, describe(tw))
		return tw
	}
}

func arg(t *testing.T, d *datadriven.TestData, key string) string {
	for _, a := range d.CmdArgs {
		if a.Key == key {
			return strings.Join(a.Vals, ",")
		}
	}
	d.Fatalf(t, "%s needs %s=", d.Cmd, key)
	return ""
}

func replicas(t *testing.T, d *datadriven.TestData, h *harness) []int {
	var out []int
	for _, v := range strings.Split(arg(t, d, "r"), ",") {
		r := atoi(t, d, v)
		if r < 0 || r >= len(h.cores) {
			d.Fatalf(t, "no replica %d", r)
		}
		out = append(out, r)
	}
	return out
}

func atoi(t *testing.T, d *datadriven.TestData, s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		d.Fatalf(t, "%q is not a number", s)
	}
	return n
}
