// Package byzantine is a validator that lies on purpose, compiled only into
// test binaries (go build -tags byzantine): equivocating proposals, double
// votes, forged signatures and garbage frames, switched on by
// $GOVNODE_BYZANTINE, which `govnode start` passes in node.Options.Byzantine.
// The default build's New returns Honest and warns that the behaviours
// asked for are ignored.
//
// The node calls the Hook it returns; the hook reaches the network only
// through the transport's publish and the p2p host it is given.
package byzantine
