// Package consensus is govnode's consensus core: a stable-leader,
// pipelined two-chain HotStuff with a quorum rule chosen by fault model
// (ARCHITECTURE.md §4). It is a deterministic state machine in the shape of etcd
// raft: inputs go in through Step (network messages), Tick (time),
// ReportMempool, Validated and Propose (the application), and everything
// the replica must do comes out of Ready: the safety state to persist,
// messages to send, blocks to fetch, blocks committed with their commit
// certificates, proposals to validate, a slot to propose in, and
// equivocation evidence. The package holds no goroutines, clock,
// randomness, network or disk (imports_test.go checks it); the driver
// sub-package runs it, and the sim sub-package runs many replicas of it
// under a seeded scheduler.
//
// Reading order: config.go (quorums, Config), types.go (what goes in and
// out), core.go (the state and the inputs), vote.go (the vote rule, QC
// formation, equivocation), timeout.go (timeouts, TCs, views),
// commit.go (the two-chain commit rule, VerifyCommit), propose.go
// (leader: pipelining, empty blocks to finalize, heartbeats),
// blocktree.go (blocks, orphans, fetches), verify.go (signatures and
// certificates, with a cache).
//
// Views and leaders: view v is led by validators[v mod n] and lasts while
// it makes progress. The only ways into a view are TC(v-1), or a QC of that
// view (proof that a quorum entered it).
//
// Safety in one paragraph: a replica votes at most once per (view,
// height), takes the TC path (a block whose justify is from an earlier
// view, carrying TC(v-1) and extending at least its high QC) at most once
// per view, stops voting in a view once it times out in it, and persists
// (view, last vote, high QC) before any vote or timeout leaves (Ready's
// Safety comes first). A block B commits when its same-view child has a QC;
// then a quorum holds QC(B) as its high QC, every later TC contains one of
// them, and every later first block extends B.
//
// The application sees blocks twice: before voting (Ready.ToValidate →
// Core.Validated, like ABCI ProcessProposal), and when committed
// (Ready.Committed, in height order). A header attests the state after
// StateHeight, the highest block its own ancestry commits; the core
// computes that height and passes it in ValidationRequest and ProposeSlot,
// and leaves the header's application fields to the application.
package consensus
