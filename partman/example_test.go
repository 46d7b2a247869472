package partman_test

import (
	"fmt"

	"github.com/ransomeye/intel/partman"
)

// Results name tables as PostgreSQL prints them, always with the schema and
// quoted only where needed.
func ExampleQualifiedName() {
	fmt.Println(partman.QualifiedName("public", "telemetry_edges_2026_11_27"))
	fmt.Println(partman.QualifiedName("Odd Schema", `Odd "Name" edges`))
	// Output:
	// public.telemetry_edges_2026_11_27
	// "Odd Schema"."Odd ""Name"" edges"
}

// ParseMode reads the --mode of intel partitions prune.
func ExampleParseMode() {
	for _, s := range []string{"drop", "detach", "delete"} {
		m, err := partman.ParseMode(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(m)
	}
	// Output:
	// drop
	// detach
	// invalid prune mode "delete" (want "drop" or "detach")
}
