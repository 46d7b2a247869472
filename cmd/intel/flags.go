package main

import (
	"math"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Numeric flags declare the values they take with intRange or
// durationRange; validateRanges (run before every command) rejects a value
// given outside it as a usage error naming the flag and the range. Every
// numeric flag of intel has a range (TestEveryNumericFlagHasARange).
const (
	rangeMin = "intel-range-min"
	rangeMax = "intel-range-max"
)

// noMax is the max of an intRange without an upper bound of its own (an int32
// in the database).
const noMax = math.MaxInt32

// intRange declares that the int flag name of fs takes min to max.
func intRange(fs *pflag.FlagSet, name string, min, max int64) {
	setRange(fs, name, strconv.FormatInt(min, 10), strconv.FormatInt(max, 10))
}

// durationRange declares that the duration flag name of fs takes at least
// min (and, when max is not 0, at most max).
func durationRange(fs *pflag.FlagSet, name string, min, max time.Duration) {
	maxText := ""
	if max > 0 {
		maxText = max.String()
	}
	setRange(fs, name, min.String(), maxText)
}

func setRange(fs *pflag.FlagSet, name, min, max string) {
	if err := fs.SetAnnotation(name, rangeMin, []string{min}); err != nil {
		panic(err) // a flag that does not exist: a programming error
	}
	if max != "" {
		if err := fs.SetAnnotation(name, rangeMax, []string{max}); err != nil {
			panic(err)
		}
	}
}

// numericFlag reports whether f holds a number or a duration.
func numericFlag(f *pflag.Flag) bool {
	switch f.Value.Type() {
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "float32", "float64", "duration":
		return true
	}
	return false
}

// validateRanges checks the numeric flags given on the command line of cmd
// (its own and those it inherits) against their declared ranges.
func validateRanges(cmd *cobra.Command) error {
	var err error
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if err == nil {
			err = checkRange(f)
		}
	})
	return err
}

func checkRange(f *pflag.Flag) error {
	minText, ok := f.Annotations[rangeMin]
	if !ok {
		return nil
	}
	var maxText string
	if m, ok := f.Annotations[rangeMax]; ok {
		maxText = m[0]
	}
	want := func() error {
		if maxText == "" || maxText == strconv.Itoa(noMax) {
			return usagef("--%s %s: want %s or more", f.Name, f.Value, minText[0])
		}
		return usagef("--%s %s: want %s to %s", f.Name, f.Value, minText[0], maxText)
	}
	if f.Value.Type() == "duration" {
		d, err := time.ParseDuration(f.Value.String())
		minD, _ := time.ParseDuration(minText[0])
		maxD, _ := time.ParseDuration(maxText)
		if err != nil || d < minD || (maxText != "" && d > maxD) {
			return want()
		}
		return nil
	}
	v, err := strconv.ParseInt(f.Value.String(), 10, 64)
	minV, _ := strconv.ParseInt(minText[0], 10, 64)
	maxV, _ := strconv.ParseInt(maxText, 10, 64)
	if err == nil && maxText == strconv.Itoa(noMax) && v > maxV {
		// "want 0 or more" of a number that is more reads as a lie.
		return usagef("--%s %s: want %s to %s", f.Name, f.Value, minText[0], maxText)
	}
	if err != nil || v < minV || (maxText != "" && v > maxV) {
		return want()
	}
	return nil
}
