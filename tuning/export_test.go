package tuning

// WithHost replaces the host's cores and memory in Detect, so tests see the same
// machine everywhere.
func WithHost(cores int, memory uint64, err error) DetectOption {
	return func(c *detectConfig) {
		c.hostCores = func() int { return cores }
		c.hostMemory = func() (uint64, error) { return memory, err }
	}
}
