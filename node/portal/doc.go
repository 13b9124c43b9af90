// Package portal is the node's public verification page (issue 21,
// docs/ARCHITECTURE.md §6 "Proof bundles"): a read-only HTTP(S) server,
// off unless portal.listen_addr is set, where a citizen enters a record id
// or drops a bundle file and the page verifies the record's whole history
// in the browser. The verifier is ledger/lightclient compiled to
// WebAssembly (node/portal/wasm), embedded in the binary with the page, so
// the portal works on a network without internet and the node is trusted
// for nothing: the browser checks every proof against a genesis hash the
// citizen can pin.
//
// What it serves, and nothing else:
//
//   - the page and its assets (static/), embedded; a strict
//     Content-Security-Policy lets the page run scripts of its own origin
//     only (and compile WebAssembly), load nothing from elsewhere, and be
//     framed by no one;
//   - GET /genesis-hash, the hash of the genesis this node runs;
//   - GET /bundle/{record_id}, the record's proof bundle as the API's
//     GetRecordBundle assembles it for an anonymous caller: content of
//     public records only, hashes of protected ones;
//   - GET /qr/{record_id}.png, a QR code of the page's verification link
//     (?id=…&genesis=…) for printed certificates.
//
// A dropped bundle file never reaches the server: the page reads it with
// FileReader. The server takes GET and HEAD only, refuses any request
// body, bounds every connection (a cap on open connections; header, read
// and idle timeouts; a write timeout for each 64 KiB sent, so a slow link
// still gets the verifier and a client that stops reading is cut off;
// header bytes) and rate-limits each client address with a token bucket
// (429 with Retry-After). Bundle assembly, the one costly answer, runs at
// most Config.MaxBundleBuilds at a time (and the node's API bounds all
// its bundle builds together). Over TLS it uses the node's server
// certificate and never asks the client for one: the portal is public and
// knows no callers.
//
// The verifier is committed, built by `make wasm` (internal/wasmbuild);
// static/verifier.json says from which sources, and a test fails when
// they have changed since.
package portal
