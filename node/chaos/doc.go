// Package chaos is a fault-injection harness for a govnode network of real
// processes (ARCHITECTURE.md §7: no fork and no lost committed transaction under any
// tested fault).
//
// A run builds the govnode binary, writes a 4-validator byzantine test
// network with `govnode testnet`, and starts each node in its own Linux
// network namespace, joined to the others by veth pairs on a bridge in a
// hub namespace. The harness stays in the root namespace and reaches every
// node's API at its namespace address. All faults come from outside the
// node: signals to its process, iptables rules inside its namespace, an
// NFQUEUE that holds its outgoing packets (delay), and restarts with the
// environment switches the node reads for testing (clock offset, byzantine
// behaviour). The node contains no test-only network code.
//
// The pieces, one file each:
//
//   - schedule.go: Generate turns a seed into a Schedule: warm-up, faults
//     one after another (never more than one faulty node at a time, except
//     a 2/2 split), final heal, recovery window. It is pure: the same seed
//     gives the same schedule.
//   - netns.go, nfqueue_linux.go: namespaces, veths, bridge, iptables rules
//     and the packet delayer; everything named with a per-run prefix and
//     removed by prefix.
//   - cluster.go: the node processes, their logs, and who is expected to
//     have exited.
//   - load.go: a signed-transaction client at a steady rate over all nodes;
//     it records every transaction the API acknowledged as committed.
//   - check.go: Check, a pure function from what the harness observed
//     (chains, acknowledgements, recovery, process exits) to findings:
//     forks, lost and duplicated transactions, stalls, deaths.
//   - run.go: Runner, which runs schedules and gathers observations.
//
// cmd/chaosrun is the command `make chaos` runs; docs/CHAOS.md describes
// the fault list and how to replay a seed. Everything here needs root
// except Generate and Check, whose tests run in the default `go test`.
package chaos
