package chaos

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Prefix starts the name of every namespace and interface the harness
// creates, so that a crashed run's leftovers can be found and removed.
const Prefix = "gvc"

// Network is the namespaces of one cluster: a hub namespace holding a
// bridge, one namespace per node with a veth into the bridge, and a veth
// from the root namespace into the bridge through which the harness reaches
// the nodes (its address is Gateway).
//
// Packet faults are iptables rules in the faulty node's namespace, in the
// chains CHAOS-IN (from INPUT) and CHAOS-OUT (from OUTPUT), which heal
// flushes. They match only traffic between nodes, never the harness's API
// calls, so the load client measures the nodes, not the fault.
type Network struct {
	RunID   string
	Subnet  netip.Prefix
	Gateway netip.Addr
	nodes   int
}

// NodeNS is node i's namespace name.
func (nw *Network) NodeNS(i int) string { return fmt.Sprintf("%s%s-n%d", Prefix, nw.RunID, i) }

func (nw *Network) hubNS() string { return Prefix + nw.RunID + "-hub" }

// NodeAddr is node i's address.
func (nw *Network) NodeAddr(i int) netip.Addr {
	a := nw.Subnet.Addr().As4()
	a[3] = byte(10 + i)
	return netip.AddrFrom4(a)
}

// run runs a command and returns its error with its output.
func run(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// ip runs ip(8).
func ip(ctx context.Context, args ...string) error { return run(ctx, "ip", args...) }

// CheckTools reports what the harness cannot run without: root, ip,
// iptables.
func CheckTools() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("the chaos harness needs root (network namespaces, iptables)")
	}
	for _, t := range []string{"ip", "iptables"} {
		if _, err := exec.LookPath(t); err != nil {
			return fmt.Errorf("the chaos harness needs %s: %w", t, err)
		}
	}
	return nil
}

// NewNetwork creates the namespaces of an n-node cluster on subnet (a /24)
// and the root namespace's route to it. On error it removes what it made.
func NewNetwork(ctx context.Context, runID string, subnet netip.Prefix, n int) (nw *Network, err error) {
	if subnet.Bits() != 24 || !subnet.Addr().Is4() {
		return nil, fmt.Errorf("subnet %s: want an IPv4 /24", subnet)
	}
	a := subnet.Masked().Addr().As4()
	a[3] = 1
	nw = &Network{RunID: runID, Subnet: subnet.Masked(), Gateway: netip.AddrFrom4(a), nodes: n}
	defer func() {
		if err != nil {
			nw.Close()
		}
	}()
	hub := nw.hubNS()
	root := Prefix + runID + "r"
	steps := [][]string{
		{"netns", "add", hub},
		{"-n", hub, "link", "set", "lo", "up"},
		{"-n", hub, "link", "add", "br0", "type", "bridge"},
		{"-n", hub, "link", "set", "br0", "up"},
		{"link", "add", root, "type", "veth", "peer", "name", root + "h"},
		{"link", "set", root + "h", "netns", hub},
		{"-n", hub, "link", "set", root + "h", "master", "br0", "up"},
		{"addr", "add", nw.Gateway.String() + "/24", "dev", root},
		{"link", "set", root, "up"},
	}
	for i := range n {
		ns, host := nw.NodeNS(i), fmt.Sprintf("%s%sn%d", Prefix, runID, i)
		steps = append(steps,
			[]string{"netns", "add", ns},
			[]string{"-n", ns, "link", "set", "lo", "up"},
			[]string{"link", "add", host, "type", "veth", "peer", "name", host + "p"},
			[]string{"link", "set", host + "p", "netns", ns},
			[]string{"-n", ns, "link", "set", host + "p", "name", "eth0"},
			[]string{"-n", ns, "addr", "add", nw.NodeAddr(i).String() + "/24", "dev", "eth0"},
			[]string{"-n", ns, "link", "set", "eth0", "up"},
			[]string{"link", "set", host, "netns", hub},
			[]string{"-n", hub, "link", "set", host, "master", "br0", "up"},
		)
	}
	for _, s := range steps {
		if err := ip(ctx, s...); err != nil {
			return nw, err
		}
	}
	for i := range n {
		for _, args := range [][]string{
			{"-N", "CHAOS-IN"}, {"-N", "CHAOS-OUT"},
			{"-A", "INPUT", "-j", "CHAOS-IN"}, {"-A", "OUTPUT", "-j", "CHAOS-OUT"},
		} {
			if err := nw.iptables(ctx, i, args...); err != nil {
				return nw, err
			}
		}
	}
	return nw, nil
}

// iptables runs iptables in node i's namespace.
func (nw *Network) iptables(ctx context.Context, i int, args ...string) error {
	return ip(ctx, append([]string{"netns", "exec", nw.NodeNS(i), "iptables", "-w", "5"}, args...)...)
}

// peersOf are the addresses of every node but i.
func (nw *Network) peersOf(i int) []netip.Addr {
	var out []netip.Addr
	for k := range nw.nodes {
		if k != i {
			out = append(out, nw.NodeAddr(k))
		}
	}
	return out
}

// Drop drops every packet between node i and each of peers (both ways,
// seen from i's namespace: what i sends to them and what it gets from
// them).
func (nw *Network) Drop(ctx context.Context, i int, peers []int) error {
	for _, k := range peers {
		a := nw.NodeAddr(k).String()
		if err := nw.iptables(ctx, i, "-A", "CHAOS-IN", "-s", a, "-j", "DROP"); err != nil {
			return err
		}
		if err := nw.iptables(ctx, i, "-A", "CHAOS-OUT", "-d", a, "-j", "DROP"); err != nil {
			return err
		}
	}
	return nil
}

// DropOut drops what node i sends to node k; k's packets to i still flow.
func (nw *Network) DropOut(ctx context.Context, i, k int) error {
	return nw.iptables(ctx, i, "-A", "CHAOS-OUT", "-d", nw.NodeAddr(k).String(), "-j", "DROP")
}

// Lose drops each packet between node i and its peers with probability p,
// independently in each direction.
func (nw *Network) Lose(ctx context.Context, i int, p float64) error {
	prob := strconv.FormatFloat(p, 'f', 4, 64)
	for _, a := range nw.peersOf(i) {
		if err := nw.iptables(ctx, i, "-A", "CHAOS-IN", "-s", a.String(), "-m", "statistic", "--mode", "random", "--probability", prob, "-j", "DROP"); err != nil {
			return err
		}
		if err := nw.iptables(ctx, i, "-A", "CHAOS-OUT", "-d", a.String(), "-m", "statistic", "--mode", "random", "--probability", prob, "-j", "DROP"); err != nil {
			return err
		}
	}
	return nil
}

// Queue sends node i's outgoing packets to its peers to NFQUEUE queue q
// (with --queue-bypass: while nobody listens they pass).
func (nw *Network) Queue(ctx context.Context, i int, q uint16) error {
	for _, a := range nw.peersOf(i) {
		if err := nw.iptables(ctx, i, "-A", "CHAOS-OUT", "-d", a.String(), "-j", "NFQUEUE", "--queue-num", strconv.Itoa(int(q)), "--queue-bypass"); err != nil {
			return err
		}
	}
	return nil
}

// Heal removes every packet fault from node i's namespace.
func (nw *Network) Heal(ctx context.Context, i int) error {
	if err := nw.iptables(ctx, i, "-F", "CHAOS-IN"); err != nil {
		return err
	}
	return nw.iptables(ctx, i, "-F", "CHAOS-OUT")
}

// Close removes the network: it kills any process left in a node
// namespace, then deletes the namespaces (which deletes their veths and
// rules) and the root veth.
func (nw *Network) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	removeByPrefix(ctx, Prefix+nw.RunID)
}

// CleanStale removes every namespace and interface whose name starts with
// Prefix: the leftovers of a run that could not clean up (killed with
// SIGKILL, a crashed machine). Only one harness runs at a time (Lock).
func CleanStale(ctx context.Context) { removeByPrefix(ctx, Prefix) }

func removeByPrefix(ctx context.Context, prefix string) {
	out, _ := exec.CommandContext(ctx, "ip", "netns", "list").Output()
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], prefix) {
			continue
		}
		ns := f[0]
		// Processes left in a node namespace are nodes an earlier harness
		// started; they are killed by pid.
		pids, _ := exec.CommandContext(ctx, "ip", "netns", "pids", ns).Output()
		for _, p := range strings.Fields(string(pids)) {
			if pid, err := strconv.Atoi(p); err == nil && pid > 1 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		_ = ip(ctx, "netns", "del", ns)
	}
	out, _ = exec.CommandContext(ctx, "ip", "-o", "link", "show").Output()
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
		if strings.HasPrefix(name, prefix) {
			_ = ip(ctx, "link", "del", name)
		}
	}
}
