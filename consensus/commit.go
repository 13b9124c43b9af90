package consensus

import (
	"bytes"
	"fmt"

	"google.golang.org/protobuf/proto"

	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// onVerifiedQC takes in a QC that verified (or that the core formed): it
// raises the high QC, moves to a higher view, counts progress in this view,
// and applies the commit rule. from is the validator to fetch the block from.
func (c *Core) onVerifiedQC(qc *pb.QuorumCert, from int) {
	if qc.GetHeight() <= c.cfg.RootQC().GetHeight() {
		return // the epoch's root: committed before the epoch began
	}
	if qcLess(c.highQC, qc) {
		c.highQC = qc
		c.safetyDirty = true
	}
	if qc.GetView() > c.view {
		c.failures = 0
		c.enterView(qc.GetView())
		c.progressHeight = qc.GetHeight()
	} else if qc.GetView() == c.view && qc.GetHeight() > c.progressHeight {
		c.progressHeight = qc.GetHeight()
		c.failures = 0
		c.deadline = c.tick + c.duration()
	}
	key := string(qc.GetBlockHash())
	if _, had := c.certified[key]; had {
		return
	}
	if qc.GetHeight() <= c.committedHeight {
		return
	}
	c.certified[key] = qc
	if x := c.blocks[key]; x != nil {
		c.checkCommit(x, qc)
	} else {
		c.requestFetch(qc.GetBlockHash(), qc.GetHeight(), from)
	}
}

// checkCommit is ARCHITECTURE.md §4 "Commit": x is certified by qc; if its parent is
// of the same view, the parent and all its ancestors are committed, proven
// by x's header and qc.
func (c *Core) checkCommit(x *node, qc *pb.QuorumCert) {
	if c.bugs.OneChainCommit {
		// Broken rule, tests only: commit x on its own QC.
		c.commit(x, &pb.CommitCert{Height: x.height, BlockHash: x.hash, ChildHeader: x.block.GetHeader(), ChildQc: qc})
		return
	}
	p := c.blocks[x.parent]
	if p == nil || p.view != x.view || p.height == 0 {
		return
	}
	c.commit(p, &pb.CommitCert{Height: p.height, BlockHash: p.hash, ChildHeader: x.block.GetHeader(), ChildQc: qc})
}

// commit hands out b and its uncommitted ancestors in height order, each
// with cert.
func (c *Core) commit(b *node, cert *pb.CommitCert) {
	if b.height <= c.committedHeight {
		return
	}
	var chain []*node
	x := b
	for x != nil && x.height > c.committedHeight {
		chain = append(chain, x)
		x = c.blocks[x.parent]
	}
	if x == nil || x.key != c.committedKey {
		c.fault = fmt.Errorf("%w: block %x at height %d does not extend committed block %x at height %d",
			ErrSafetyFault, b.hash[:4], b.height, []byte(c.committedKey)[:4], c.committedHeight)
		c.out.Fault = c.fault
		return
	}
	// The blocks handed out now must be in the safety state written with
	// this Ready (uncommittedPaths keeps them until Applied), even when
	// nothing else about the state changed: blocks that arrived by fetch
	// after their QC commit without a new vote or QC.
	c.safetyDirty = true
	for i := len(chain) - 1; i >= 0; i-- {
		y := chain[i]
		y.committed = true
		c.attested = max(c.attested, y.stateHeight)
		c.stats.Committed++
		c.out.Committed = append(c.out.Committed, CommittedBlock{Height: y.height, Hash: y.hash, Block: y.block, Header: y.hdr, Cert: cert})
	}
	c.committedHeight, c.committedKey = b.height, b.key
	if c.committedHeight%32 == 0 || len(c.blocks) > 4*c.cfg.RetainBlocks {
		c.gc()
	}
}

// MaxCertChain bounds the headers a commit certificate carries
// (pb.CommitCert.chain): a certificate from a peer with more is refused
// before any of them is decoded. No QC forms for a block more than
// voteWindow above the committed height (votes above it are dropped), so
// the blocks one certificate commits, and the chain linking them, never
// exceed it: a certificate the ledger must make self-contained always fits.
const MaxCertChain = voteWindow

// VerifyCommit checks that block is committed: cert's child header extends
// the certified block in the same view and carries a valid QC from cfg's
// validator set, and a chain of serialized headers (the blocks from block's
// child up to cert's block, in height order; empty when block is cert's
// block) links block to it by parent hashes.
//
// The chain is cert.chain when the certificate carries one (it is then
// self-contained: the ledger stores such certificates for blocks whose
// linking blocks it does not hold, ARCHITECTURE.md §4 "Reconfiguration"),
// else the chain argument, which the caller builds from the blocks it has
// (a block sync batch, the ledger). A certificate carrying a chain while
// the caller passes one too is refused, as is one carrying more than
// MaxCertChain headers. Block sync and light clients use it; only cfg's
// ChainID, GenesisHash, Validators and FaultModel are read.
func VerifyCommit(cfg Config, block *pb.Block, cert *pb.CommitCert, chain [][]byte) error {
	if block == nil || cert == nil {
		return invalid("missing block or certificate")
	}
	if own := cert.GetChain(); len(own) > 0 {
		if len(own) > MaxCertChain {
			return invalid("certificate carries %d chain headers, at most %d", len(own), MaxCertChain)
		}
		if len(chain) > 0 {
			return invalid("certificate carries its own chain, and another was given")
		}
		chain = own
	}
	var sink uint64
	ver := newVerifier(&cfg, &sink, &sink)
	prev := block.GetHeader()
	prevHdr := new(pb.Header)
	if err := proto.Unmarshal(prev, prevHdr); err != nil {
		return invalid("decode block header: %v", err)
	}
	for i, hb := range chain {
		h := new(pb.Header)
		if err := proto.Unmarshal(hb, h); err != nil {
			return invalid("decode chain header %d: %v", i, err)
		}
		if !bytes.Equal(h.GetParentHash(), cfg.Suite.Hash(prev)) || h.GetHeight() != prevHdr.GetHeight()+1 {
			return invalid("chain header %d does not extend the one before", i)
		}
		prev, prevHdr = hb, h
	}
	committed := cfg.Suite.Hash(prev)
	if !bytes.Equal(committed, cert.GetBlockHash()) || prevHdr.GetHeight() != cert.GetHeight() {
		return invalid("certificate is for block %x at %d, chain ends at %x at %d", cert.GetBlockHash(), cert.GetHeight(), committed, prevHdr.GetHeight())
	}
	child := new(pb.Header)
	if err := proto.Unmarshal(cert.GetChildHeader(), child); err != nil {
		return invalid("decode child header: %v", err)
	}
	if child.GetChainId() != cfg.ChainID || prevHdr.GetChainId() != cfg.ChainID {
		return invalid("chain id mismatch")
	}
	if want := cfg.Suite.HeaderName(); child.GetCryptoSuite() != want || prevHdr.GetCryptoSuite() != want {
		return invalid("header names crypto suite %q, the chain's is %s", prevHdr.GetCryptoSuite(), cfg.Suite)
	}
	if !bytes.Equal(child.GetParentHash(), committed) || child.GetHeight() != prevHdr.GetHeight()+1 {
		return invalid("child header does not extend the committed block")
	}
	if child.GetView() != prevHdr.GetView() {
		return invalid("child of view %d, committed block of view %d: not a two-chain", child.GetView(), prevHdr.GetView())
	}
	qc := cert.GetChildQc()
	if !bytes.Equal(qc.GetBlockHash(), cfg.Suite.Hash(cert.GetChildHeader())) || qc.GetView() != child.GetView() || qc.GetHeight() != child.GetHeight() {
		return invalid("child QC does not certify the child header")
	}
	return ver.qc(qc)
}
