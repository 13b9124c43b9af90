package consensus

// Test-only access to the rule switches (see Config.bugs). This file is
// compiled only into this package's tests, so no production configuration
// can switch a rule off.

// Bugs names the rule switches for the external test package.
type Bugs = bugs

// WithBugs returns cfg with rules switched off.
func WithBugs(cfg Config, b Bugs) Config {
	cfg.bugs = &b
	return cfg
}

// VoteCase and VoteRule expose the pure vote rule to table tests.
type VoteCase = voteCase

func VoteRule(c VoteCase) error { return voteRule(c, false) }

var ErrVoteRefused = errVoteRefused
