package tuning

import "errors"

// ErrUnknownCores is returned when the number of cores is zero, negative or could
// not be detected. PlanFor does not guess: a pool sized for a wrong machine is
// worse than a clear error.
var ErrUnknownCores = errors.New("number of cores is unknown")

// ErrUnknownMemory is returned when the total memory is zero or could not be
// detected.
var ErrUnknownMemory = errors.New("total memory is unknown")

// ErrInvalidSpindleFactor is returned when Resources.SpindleFactor is negative.
var ErrInvalidSpindleFactor = errors.New("spindle factor is negative")

// ErrInvalidSize is returned by ParseBytes for a size it cannot read.
var ErrInvalidSize = errors.New("invalid size")
