package change

import "fmt"

// Op is the change a row carries, in the changelog model of Flink and RisingWave.
type Op uint8

const (
	// Insert (+I) adds a row.
	Insert Op = iota
	// UpdateBefore (-U) retracts the old image of an updated row; an UpdateAfter follows.
	UpdateBefore
	// UpdateAfter (+U) adds the new image of an updated row.
	UpdateAfter
	// Delete (-D) retracts a row.
	Delete
)

var opNames = [...]string{"+I", "-U", "+U", "-D"}

// String returns the short changelog notation: +I, -U, +U or -D.
func (o Op) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return fmt.Sprintf("Op(%d)", o)
}

// IsRetraction reports whether the op removes a row (-U or -D).
func (o Op) IsRetraction() bool { return o == UpdateBefore || o == Delete }

// Valid reports whether o is one of the four ops.
func (o Op) Valid() bool { return o <= Delete }

// ParseOp parses +I, -U, +U or -D.
func ParseOp(s string) (Op, error) {
	for i, n := range opNames {
		if n == s {
			return Op(i), nil
		}
	}
	return 0, fmt.Errorf("change: unknown op %q (want +I, -U, +U or -D)", s)
}
