// Package p2p is govnode's network layer: a libp2p host that only members of
// the consortium may reach, gossip of transactions and consensus messages,
// and a request/response protocol for block sync (ARCHITECTURE.md §3, §4, §6).
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
//   - gossip.go, validate.go: gossipsub topics /govnode/<chain>/tx/1 and
//     /govnode/<chain>/consensus/1 with validators (cheap checks first,
//     signatures after, reject for provably bad data, ignore for stale),
//     message ids that are the hash of the data, no gossipsub author
//     signatures (every payload is signed by its own author and checked
//     here), and peer scoring that prunes and then graylists a peer
//     flooding invalid messages. gossip_trace.go follows the mesh
//     (MeshPeers) and counts dropped RPCs.
//   - sync.go: /govnode/<chain>/sync/1, one request and one response per
//     stream, framed by package wire, with deadlines and size caps.
//
// # Delivery
//
// Validated gossip is delivered on Messages(kind), a bounded channel per
// topic. When the node falls behind, the oldest undelivered message is
// dropped to make room (Stats counts the drops): for consensus the newest
// message is the useful one, and blocking instead would only move the loss
// into gossipsub's own queue, which drops the newest.
//
// # Concurrency
//
// The peer manager goroutine owns connection state; Peers() asks it through
// a request channel carrying a reply channel, and SetMembership hands it a
// new membership the same way. The gater's allowed set is an immutable map
// behind an atomic pointer, replaced whole by SetMembership. Gossip validators read an
// immutable ValidatorSet snapshot through an atomic pointer and never take
// a lock the consensus loop holds. Counters are atomics read by Stats().
package p2p
