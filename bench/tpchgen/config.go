package tpchgen

import (
	"errors"
	"fmt"
	"math"
	"runtime"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// ErrConfig is wrapped by every error about a bad Config.
var ErrConfig = errors.New("tpchgen: bad config")

// Table names, in the order Generate writes them.
const (
	Region   = "region"
	Nation   = "nation"
	Supplier = "supplier"
	Customer = "customer"
	Part     = "part"
	PartSupp = "partsupp"
	Orders   = "orders"
	Lineitem = "lineitem"
)

// Tables lists the eight TPC-H tables.
var Tables = []string{Region, Nation, Supplier, Customer, Part, PartSupp, Orders, Lineitem}

// MinSF is the smallest scale factor: below it a part could not have four distinct
// suppliers.
const MinSF = 0.001

// Config says what to generate. The zero value generates scale factor 1 with seed 0.
type Config struct {
	// SF is the TPC-H scale factor (1 = 6M lineitem rows, about 1 GB as text); 0 means 1.
	SF float64
	// Seed selects the random streams; the same (SF, Seed) always yields the same data.
	Seed uint64
	// Workers generating chunks in parallel; 0 means GOMAXPROCS. It never changes the data.
	Workers int
	// Alloc is used by the Parquet writer; nil means memory.DefaultAllocator.
	Alloc memory.Allocator
}

func (c Config) withDefaults() Config {
	if c.SF == 0 {
		c.SF = 1
	}
	if c.Workers == 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	if c.Alloc == nil {
		c.Alloc = memory.DefaultAllocator
	}
	return c
}

// Validate reports whether the Config can be generated.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case math.IsNaN(c.SF) || c.SF < MinSF || c.SF > 10000:
		return fmt.Errorf("%w: scale factor %v outside [%v, 10000]", ErrConfig, c.SF, MinSF)
	case c.Workers < 0:
		return fmt.Errorf("%w: %d workers", ErrConfig, c.Workers)
	}
	return nil
}

// counts are the base cardinalities at scale factor 1 (clause 4.2.5).
const (
	baseSupplier = 10_000
	baseCustomer = 150_000
	basePart     = 200_000
	baseOrders   = 1_500_000
	suppPerPart  = 4
)

func scaled(base int64, sf float64) int64 { return max(1, int64(float64(base)*sf)) }

// Rows returns the number of rows of a table, or -1 for lineitem, whose count (one to
// seven lines per order, four on average) is known only once generated.
func (c Config) Rows(table string) int64 {
	c = c.withDefaults()
	switch table {
	case Region:
		return int64(len(regionNames))
	case Nation:
		return int64(len(nationNames))
	case Supplier:
		return scaled(baseSupplier, c.SF)
	case Customer:
		return scaled(baseCustomer, c.SF)
	case Part:
		return scaled(basePart, c.SF)
	case PartSupp:
		return suppPerPart * scaled(basePart, c.SF)
	case Orders:
		return scaled(baseOrders, c.SF)
	case Lineitem:
		return -1
	}
	return 0
}
