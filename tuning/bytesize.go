package tuning

import (
	"fmt"
	"math"
	"math/big"
	"strings"
)

// byteUnits maps lower-cased unit suffixes to their size in bytes. IEC units
// (KiB, Ki) are powers of 1024; SI units (kB, GB) are powers of 1000, as on a
// disk label. The single letters K, M, G, T and P are absent on purpose: "64G"
// means GiB to some tools and GB to others.
var byteUnits = map[string]uint64{
	"":    1,
	"b":   1,
	"kib": KiB, "ki": KiB,
	"mib": MiB, "mi": MiB,
	"gib": GiB, "gi": GiB,
	"tib": TiB, "ti": TiB,
	"pib": PiB, "pi": PiB,
	"kb": 1e3,
	"mb": 1e6,
	"gb": 1e9,
	"tb": 1e12,
	"pb": 1e15,
}

// ParseBytes reads a memory size such as "196GiB", "512MiB", "1TiB", "64GB",
// "1.5 GiB" or "4096" (bytes). Units are case-insensitive; KiB/MiB/GiB/TiB/PiB
// (or Ki/Mi/Gi/Ti/Pi) are binary and kB/MB/GB/TB/PB decimal. A bare K, M, G, T or
// P is rejected as ambiguous, as are negative, empty and overflowing sizes. The
// errors wrap ErrInvalidSize.
func ParseBytes(s string) (uint64, error) {
	trimmed := strings.TrimSpace(s)
	i := strings.IndexFunc(trimmed, func(r rune) bool {
		return (r < '0' || r > '9') && r != '.'
	})
	if i < 0 {
		i = len(trimmed)
	}
	number, unit := trimmed[:i], strings.ToLower(strings.TrimSpace(trimmed[i:]))
	if number == "" {
		return 0, fmt.Errorf("parse size %q: %w: no number", s, ErrInvalidSize)
	}
	mult, ok := byteUnits[unit]
	if !ok {
		if len(unit) == 1 && strings.Contains("kmgtp", unit) {
			return 0, fmt.Errorf("parse size %q: %w: unit %q is ambiguous, write %siB or %sB",
				s, ErrInvalidSize, trimmed[i:], strings.ToUpper(unit), strings.ToUpper(unit))
		}
		return 0, fmt.Errorf("parse size %q: %w: unknown unit %q", s, ErrInvalidSize, trimmed[i:])
	}

	// Exact arithmetic: "1.5GiB" is 1610612736 bytes, not a float's neighbour.
	r, ok := new(big.Rat).SetString(number)
	if !ok {
		return 0, fmt.Errorf("parse size %q: %w: bad number %q", s, ErrInvalidSize, number)
	}
	r.Mul(r, new(big.Rat).SetInt(new(big.Int).SetUint64(mult)))
	if !r.IsInt() {
		return 0, fmt.Errorf("parse size %q: %w: not a whole number of bytes", s, ErrInvalidSize)
	}
	n := r.Num()
	if !n.IsUint64() {
		return 0, fmt.Errorf("parse size %q: %w: larger than %d bytes", s, ErrInvalidSize, uint64(math.MaxUint64))
	}
	return n.Uint64(), nil
}
