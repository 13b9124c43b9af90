// Package chaos is a fault-injection harness for a govnode network of real
// processes (ARCHITECTURE.md §7: no fork and no lost committed transaction under any
// tested fault).
//
// A run builds the govnode binary, writes a 4-validator byzantine test
// network with `govnode testnet` and a spare fifth node's home with
// `govnode testnet join`, and starts each validator in its own Linux
// network namespace, joined to the others by veth pairs on a bridge in a
// hub namespace (the spare has its namespace too, and starts only in a
// membership schedule). The harness stays in the root namespace and reaches every
// node's API at its namespace address. All faults come from outside the
// node: signals to its process, iptables rules inside its namespace, an
// NFQUEUE that holds its outgoing packets (delay), and restarts with the
// environment switches the node reads for testing (clock offset, byzantine
// behaviour). The node contains no test-only network code.
//
// Membership schedules (issue 17; ARCHITECTURE.md §4, "Reconfiguration"):
// by default every other schedule of a run (the second, fourth, ...;
// -membership-every) is one, when the duration is at least 30 s. Under
// load the harness adds the spare node's department by governance (the
// add-department proposal and the current admins' votes, as
// node/e2e/membership_test.go does), starts the spare, partitions an
// original node and kills the joiner around the height from which the
// new set is in force, deals ordinary faults to the members of the moment,
// and, when the schedule has time, removes a department (the joiner or an
// original) by governance. Besides the usual claims, Check then requires
// that each change applied: the joiner's validator signs commit
// certificates from its activation height on (signer_ids), a removed one
// none from its removal on, every certificate holds a quorum of the set
// in force at its height (4 of 5 once the set grew), and every member
// reports the expected set in force. A change that does not pass or
// apply fails the schedule. Recovery and settling count the members of
// the end: the joiner once its addition passed, not a removed node, whose
// chain is still compared up to where it stops.
//
// The pieces, one file each:
//
//   - schedule.go: Generate turns a seed into a Schedule: warm-up, faults
//     one after another (never more than one faulty node at a time, except
//     a 2/2 split), final heal, recovery window. It is pure: the same seed
//     gives the same schedule.
//   - membership.go: the plan of a membership schedule (pure as well);
//     govern.go: its governance steps (proposals, votes, activation
//     heights) and the anchoring of faults to the activation height.
//   - netns.go, nfqueue_linux.go: namespaces, veths, bridge, iptables rules
//     and the packet delayer; everything named with a per-run prefix and
//     removed by prefix.
//   - cluster.go: the node processes, their logs, and who is expected to
//     have exited.
//   - load.go: a signed-transaction client at a steady rate over all nodes;
//     it records every transaction the API acknowledged as committed.
//   - check.go: Check, a pure function from what the harness observed
//     (chains, acknowledgements, recovery, process exits) to findings:
//     forks, lost and duplicated transactions, stalls, deaths, membership
//     changes that did not apply.
//   - run.go: Runner, which runs schedules and gathers observations.
//
// cmd/chaosrun is the command `make chaos` runs; docs/CHAOS.md describes
// the fault list and how to replay a seed. Everything here needs root
// except Generate and Check, whose tests run in the default `go test`.
package chaos
