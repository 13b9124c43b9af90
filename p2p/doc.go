// Package p2p is govnode's network layer: a libp2p host that only members of
// the consortium may reach, direct delivery of transactions and consensus
// messages to the validators, and a request/response protocol for block sync (ARCHITECTURE.md §3, §4, §6).
//
// # Shape
//
// New builds a Host from a Config (plain data with defaults and Validate)
// and functional options for the things the node injects: the libp2p
// identity key, a logger, the validator set, the transaction validator and
// the block source. p2p never imports consensus or ledger; what it needs
// from them comes in through those options (ARCHITECTURE.md §2).
//
//   - host.go: the libp2p host: TCP and QUIC, Noise and TLS, no relay, no
//     DHT, no NAT services. Peers come from genesis and config only.
//   - gater.go: the permissioned connection gater. A peer that is neither a
//     member nor an observer in force (Config.Members and Observers at
//     start, then those of each SetMembership, the static Config.Observers
//     always) is refused right after the security handshake, when its peer id is first known; the refusal is
//     logged with the peer id and address, at most five lines a minute (a
//     stranger can knock in a loop with a new peer id each time); every
//     refusal is counted in Stats.ConnsRefused.
//   - limits.go: explicit resource-manager limits for a consortium of at
//     most 64 members, with per-peer caps on connections, streams and memory.
//   - peers.go: the peer manager, one goroutine that owns all per-peer
//     state: it dials every member, redials with exponential backoff and
//     seeded jitter, pings for round-trip times, and answers Peers().
//   - membership.go: SetMembership, the live consortium (issue 17): the
//     gater's allowed set, the peer manager's members and observers and the
//     peerstore follow the membership committed on chain, and connections
//     of peers no longer admitted are closed.
//   - direct.go, direct_send.go, validate.go, penalty.go:
//     /govnode/<chain>/direct/1, one long-lived outbound stream per member
//     carrying length-delimited DirectFrames: this node's txs in adaptive
//     batches (the batcher) and its consensus messages, each sent once to
//     each validator and never relayed. Inbound frames are bounded, then
//     checked (cheap checks first, signatures after: the node's tx
//     admission, consensus.CheckSender); a provably bad frame penalises its
//     sender and resets its stream, and three within a minute or so
//     graylist it; a stale one is ignored at no cost. Each member has a
//     bounded send queue: the caller never blocks, and what does not fit
//     is dropped and counted.
//   - sync.go: /govnode/<chain>/sync/1, one request and one response per
//     stream, framed by package wire, with deadlines and size caps.
//
// # Delivery
//
// Validated messages are delivered on Messages(kind), a bounded channel per
// kind. When the node falls behind, the oldest undelivered message is
// dropped to make room (Stats counts the drops): for consensus the newest
// message is the useful one, and blocking instead would stall every
// peer's stream behind the slowest reader.
//
// # Concurrency
//
// The peer manager goroutine owns connection state; Peers() asks it through
// a request channel carrying a reply channel, and SetMembership hands it a
// new membership the same way. The gater's allowed set is an immutable map
// behind an atomic pointer, replaced whole by SetMembership. The direct
// protocol's checks read an
// immutable ValidatorSet snapshot through an atomic pointer and never take
// a lock the consensus loop holds. Each member's sender goroutine owns its
// stream; the batcher goroutine owns the batch being built. Counters are
// atomics read by Stats().
package p2p
