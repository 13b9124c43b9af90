//go:build !byzantine

package node

// newByzantine returns the hook of a correct node: this binary was built
// without the byzantine tag, so behaviours ($GOVNODE_BYZANTINE) are ignored,
// with a warning so that a test that expected a faulty node finds out why.
func newByzantine(n *Node, behaviours string) (byzantine, error) {
	if behaviours != "" {
		n.log.Warn("byzantine behaviours requested, but this binary was built without the byzantine tag: ignored",
			"behaviours", behaviours)
	}
	return honest{}, nil
}
