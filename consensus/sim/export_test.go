package sim

// WithSuffixBug plants a reconfiguration bug for the checker to find: the
// ledger executes the blocks the old validator set certified above its
// last height, instead of dropping them (driver.Membership).
func WithSuffixBug(o *Options) { o.suffixBug = true }
