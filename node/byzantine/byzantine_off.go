//go:build !byzantine

package byzantine

// New returns the hook of a correct node: this binary was built without the
// byzantine tag, so behaviours ($GOVNODE_BYZANTINE) are ignored, with a
// warning so that a test that expected a faulty node finds out why.
func New(behaviours string, d Deps) (Hook, error) {
	if behaviours != "" {
		d.logger().Warn("byzantine behaviours requested, but this binary was built without the byzantine tag: ignored",
			"behaviours", behaviours)
	}
	return Honest{}, nil
}
