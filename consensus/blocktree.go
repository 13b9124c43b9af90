package consensus

import (
	"sort"

	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// maxMissing bounds the blocks being fetched at once.
const maxMissing = 256

func (c *Core) onProposal(sender uint32, p *pb.Proposal) error {
	b := p.GetBlock()
	if b == nil {
		return invalid("proposal without block")
	}
	if len(p.GetTxHashes()) > 0 {
		// ARCHITECTURE.md §3 allows hash-only proposals; the node resolves tx_hashes
		// from its mempool into Block.txs before stepping the proposal. One
		// that reaches the core unresolved is dropped, not held against the
		// sender.
		c.stats.Dropped++
		return nil
	}
	if len(b.GetHeader()) == 0 || len(b.GetHeader()) > c.lim.maxHeader {
		return invalid("header is %d bytes", len(b.GetHeader()))
	}
	key := string(c.cfg.Suite.Hash(b.GetHeader()))
	if x := c.blocks[key]; x != nil {
		c.stats.Ignored++
		c.considerVote(x) // a proposal kept for its view comes back here
		return nil
	}
	if c.isOrphan(key) {
		c.stats.Ignored++
		return nil
	}
	db, err := c.ver.block(b, c.lim)
	if err != nil {
		return err
	}
	delete(c.missing, key)
	if db.header.GetHeight() <= c.committedHeight {
		c.stats.Ignored++
		return nil
	}
	// Certificates first: a valid QC or TC from a higher view moves us on.
	if tc := b.GetTc(); tc != nil {
		c.onVerifiedTC(tc)
	}
	c.onVerifiedQC(b.GetJustify(), int(sender))
	c.addBlock(db, int(sender))
	if v := db.header.GetView(); v > c.view {
		c.buffer(sender, v, &pb.ConsensusMessage{Sender: sender, Msg: &pb.ConsensusMessage_Proposal{Proposal: p}})
	}
	return nil
}

func (c *Core) isOrphan(key string) bool { return c.orphanSet[key] }

// addBlock puts a verified block in the tree, or keeps it as an orphan and
// fetches its parent.
func (c *Core) addBlock(db *decodedBlock, from int) {
	pkey := string(db.header.GetParentHash())
	parent := c.blocks[pkey]
	if parent == nil {
		if c.orphanCount >= c.cfg.MaxOrphans {
			c.stats.Dropped++
			return
		}
		c.orphans[pkey] = append(c.orphans[pkey], &orphan{db: db, from: from})
		c.orphanSet[string(db.hash)] = true
		c.orphanCount++
		c.requestFetch(db.header.GetParentHash(), db.header.GetHeight()-1, from)
		return
	}
	c.connect(c.newNode(db, parent))
}

func childStateHeight(p *node) uint64 {
	sh := p.stateHeight
	if p.height > 0 && p.justifyView == p.view && p.height-1 > sh {
		sh = p.height - 1
	}
	return sh
}

func (c *Core) newNode(db *decodedBlock, parent *node) *node {
	x := &node{
		hash: db.hash, key: string(db.hash), block: db.block, hdr: db.header,
		view: db.header.GetView(), height: db.header.GetHeight(), parent: parent.key,
		justifyView: db.block.GetJustify().GetView(),
		stateHeight: childStateHeight(parent),
		lastTx:      parent.lastTx,
	}
	if len(db.block.GetTxs()) > 0 {
		x.lastTx = x.height
	}
	return x
}

// connect inserts x, whose parent is in the tree, then every orphan that
// now connects, in order.
func (c *Core) connect(x *node) {
	queue := []*node{x}
	for len(queue) > 0 && c.fault == nil {
		x := queue[0]
		queue = queue[1:]
		if c.blocks[x.key] != nil {
			continue
		}
		c.blocks[x.key] = x
		delete(c.missing, x.key)
		// x's justify certifies its parent (may commit the grandparent).
		c.onVerifiedQC(x.block.GetJustify(), int(x.hdr.GetProposer()))
		if qc := c.certified[x.key]; qc != nil {
			c.checkCommit(x, qc)
		}
		c.considerVote(x)
		kids := c.orphans[x.key]
		delete(c.orphans, x.key)
		c.orphanCount -= len(kids)
		for _, o := range kids {
			delete(c.orphanSet, string(o.db.hash))
			queue = append(queue, c.newNode(o.db, x))
		}
	}
}

// fetchState tracks a block being fetched.
type fetchState struct {
	last   uint64 // tick of the last request
	height uint64
	hint   int // validator asked first
	tries  int
}

// requestFetch asks for a block we lack, at height.
func (c *Core) requestFetch(hash []byte, height uint64, from int) {
	key := string(hash)
	if c.blocks[key] != nil || c.orphanSet[key] || height <= c.committedHeight {
		return
	}
	if _, ok := c.missing[key]; ok {
		return
	}
	if len(c.missing) >= maxMissing {
		c.stats.Dropped++
		return
	}
	if from < 0 || from >= c.n {
		from = c.cfg.Leader(c.view)
	}
	c.missing[key] = &fetchState{last: c.tick, height: height, hint: from}
	c.out.Fetch = append(c.out.Fetch, FetchRequest{Hash: append([]byte(nil), hash...), From: c.fetchPeer(from, 0)})
}

// fetchPeer is the validator to ask on the given try: the hint first, then
// the others in turn, never ourselves.
func (c *Core) fetchPeer(hint, try int) int {
	p := (hint + try) % c.n
	if p == c.self {
		p = (p + 1) % c.n
	}
	return p
}

// retryFetches asks again, from another peer, for blocks still missing.
func (c *Core) retryFetches() {
	if len(c.missing) == 0 {
		return
	}
	keys := make([]string, 0, len(c.missing))
	for k := range c.missing {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		f := c.missing[k]
		if f.height <= c.committedHeight {
			delete(c.missing, k) // committed meanwhile (through another chain of fetches)
			continue
		}
		if c.tick-f.last < uint64(c.cfg.FetchRetryTicks) {
			continue
		}
		f.last = c.tick
		f.tries++
		c.out.Fetch = append(c.out.Fetch, FetchRequest{Hash: []byte(k), From: c.fetchPeer(f.hint, f.tries)})
	}
}

// gc drops what can no longer matter: forks at or below the committed
// height, committed blocks older than RetainBlocks that the ledger holds
// (a committed block above the durable height stays: the safety state must
// keep it until Applied), certificates, votes and timeouts of past views.
func (c *Core) gc() {
	keep := uint64(c.cfg.RetainBlocks)
	for k, x := range c.blocks {
		if x.height > c.committedHeight {
			continue
		}
		if !x.committed || (x.height+keep < c.committedHeight && x.height <= c.durable) {
			delete(c.blocks, k)
		}
	}
	for k, qc := range c.certified {
		if qc.GetHeight()+keep < c.committedHeight {
			delete(c.certified, k)
		}
	}
	for k, os := range c.orphans {
		kept := os[:0]
		for _, o := range os {
			if o.db.header.GetHeight() > c.committedHeight {
				kept = append(kept, o)
			} else {
				delete(c.orphanSet, string(o.db.hash))
			}
		}
		c.orphanCount -= len(os) - len(kept)
		if len(kept) == 0 {
			delete(c.orphans, k)
		} else {
			c.orphans[k] = kept
		}
	}
	for k, f := range c.missing {
		if c.blocks[k] != nil || f.height <= c.committedHeight {
			delete(c.missing, k)
		}
	}
	c.gcVotes()
}

func (c *Core) gcVotes() {
	for k := range c.votes {
		if k.view < c.view || k.height <= c.committedHeight {
			delete(c.votes, k)
		}
	}
	for k := range c.seenVotes {
		if k.view < c.view || k.height <= c.committedHeight {
			delete(c.seenVotes, k)
		}
	}
	for k := range c.evidenceSeen {
		if k.view+1 < c.view {
			delete(c.evidenceSeen, k)
		}
	}
}
