package tuning_test

import (
	"fmt"

	"github.com/ransomeye/intel/tuning"
)

// The plan of the README's "Size for the machine": 48 cores and 196 GiB
// make a large machine, so the pool is 48 × 2 + 4 under the cap of 400.
func ExamplePlanFor() {
	memory, err := tuning.ParseBytes("196GiB")
	if err != nil {
		panic(err)
	}
	for _, r := range []tuning.Resources{
		{Cores: 48, MemoryBytes: memory},
		{Cores: 8, MemoryBytes: 32 * tuning.GiB},
		{Cores: 2, MemoryBytes: 4 * tuning.GiB},
	} {
		plan, err := tuning.PlanFor(r)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%d cores, %d GiB: %s, pool %d-%d (cap %d), batch %d, parser workers %d\n",
			r.Cores, r.MemoryBytes/tuning.GiB, plan.Class, plan.MinConns, plan.MaxConns, plan.PoolCap,
			plan.BatchSize, plan.ParserWorkers)
	}
	// Output:
	// 48 cores, 196 GiB: large, pool 25-100 (cap 400), batch 5000, parser workers 4
	// 8 cores, 32 GiB: medium, pool 5-20 (cap 200), batch 2000, parser workers 2
	// 2 cores, 4 GiB: small, pool 2-8 (cap 50), batch 500, parser workers 1
}
