package tuning

import "fmt"

// WithHost replaces the host's cores and memory in Detect, so tests see the same
// machine everywhere.
func WithHost(cores int, memory uint64, err error) DetectOption {
	return func(c *detectConfig) {
		c.hostCores = func() int { return cores }
		c.hostMemory = func() (uint64, error) { return memory, err }
	}
}

// SlowServerCheck makes the server check's read of the connection limits
// sleep for seconds more on the server, until the test ends.
func SlowServerCheck(t interface{ Cleanup(func()) }, seconds float64) {
	query := serverLimitQuery
	serverLimitQuery = fmt.Sprintf("SELECT q.* FROM (%s) q, pg_sleep(%g)", query, seconds)
	t.Cleanup(func() { serverLimitQuery = query })
}
