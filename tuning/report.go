package tuning

// Report is a machine's resources and the plan for them, for a command-line
// tool to print (it marshals to JSON).
type Report struct {
	// Resources is what was detected or simulated.
	Resources Resources `json:"resources"`
	// Plan is PlanFor(Resources).
	Plan Plan `json:"plan"`
}

// NewReport plans for r and returns both. It fails as PlanFor does.
func NewReport(r Resources) (Report, error) {
	plan, err := PlanFor(r)
	if err != nil {
		return Report{}, err
	}
	return Report{Resources: r, Plan: plan}, nil
}
