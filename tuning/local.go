package tuning

// fallbackResources is the machine LocalPlan plans for when this one cannot
// be measured: the smallest class (1 core, 4 GiB), whose plan is safe
// anywhere.
var fallbackResources = Resources{Cores: 1, MemoryBytes: 4 << 30}

// LocalPlan returns the plan for the machine the process runs on
// (PlanFor(Detect())), or, when detection fails, the plan for the smallest
// machine with the error that says why. It is what a command or service
// calls once at start-up and passes on: batch sizes, parser workers and
// writers are inputs of the store and the loaders, never detected by them.
func LocalPlan(opts ...DetectOption) (Plan, error) {
	res, err := Detect(opts...)
	if err == nil {
		var plan Plan
		if plan, err = PlanFor(res); err == nil {
			return plan, nil
		}
	}
	plan, _ := PlanFor(fallbackResources) // valid resources: TestLocalPlanFallback
	return plan, err
}
