package tpchgen

import (
	"github.com/apache/arrow-go/v18/arrow"
)

func schemaOf(names []string, types ...arrow.DataType) *arrow.Schema {
	fs := make([]arrow.Field, len(names))
	for i, n := range names {
		fs[i] = arrow.Field{Name: n, Type: types[i]}
	}
	return arrow.NewSchema(fs, nil)
}

var (
	i64  = arrow.PrimitiveTypes.Int64
	i32  = arrow.PrimitiveTypes.Int32
	str  = arrow.BinaryTypes.String
	date = arrow.FixedWidthTypes.Date32
)

var schemas = map[string]*arrow.Schema{
	Region: schemaOf([]string{"r_regionkey", "r_name", "r_comment"}, i64, str, str),
	Nation: schemaOf([]string{"n_nationkey", "n_name", "n_regionkey", "n_comment"}, i64, str, i64, str),
	Supplier: schemaOf([]string{"s_suppkey", "s_name", "s_address", "s_nationkey", "s_phone", "s_acctbal", "s_comment"},
		i64, str, str, i64, str, moneyType, str),
	Customer: schemaOf([]string{"c_custkey", "c_name", "c_address", "c_nationkey", "c_phone", "c_acctbal", "c_mktsegment", "c_comment"},
		i64, str, str, i64, str, moneyType, str, str),
	Part: schemaOf([]string{"p_partkey", "p_name", "p_mfgr", "p_brand", "p_type", "p_size", "p_container", "p_retailprice", "p_comment"},
		i64, str, str, str, str, i32, str, moneyType, str),
	PartSupp: schemaOf([]string{"ps_partkey", "ps_suppkey", "ps_availqty", "ps_supplycost", "ps_comment"},
		i64, i64, i32, moneyType, str),
	Orders: schemaOf([]string{"o_orderkey", "o_custkey", "o_orderstatus", "o_totalprice", "o_orderdate", "o_orderpriority", "o_clerk", "o_shippriority", "o_comment"},
		i64, i64, str, moneyType, date, str, str, i32, str),
	Lineitem: schemaOf([]string{"l_orderkey", "l_partkey", "l_suppkey", "l_linenumber", "l_quantity", "l_extendedprice", "l_discount", "l_tax",
		"l_returnflag", "l_linestatus", "l_shipdate", "l_commitdate", "l_receiptdate", "l_shipinstruct", "l_shipmode", "l_comment"},
		i64, i64, i64, i32, moneyType, moneyType, moneyType, moneyType, str, str, date, date, date, str, str, str),
}

// Schema returns the Arrow schema of a table, or nil for an unknown name.
func Schema(table string) *arrow.Schema { return schemas[table] }

// Rows per chunk: each chunk is one random stream and one Parquet row group.
const (
	chunkRows   = 1 << 17 // supplier, customer, part
	chunkParts  = 1 << 15 // partsupp: four rows a part
	chunkOrders = 1 << 16 // orders, about four lineitems each
)

// job generates one chunk; orders and lineitem come from the same job.
type job struct {
	kind  int // index into Tables; Orders also yields Lineitem
	chunk int
	lo    int64 // first row (0-based) of the driving table
	hi    int64
}

func (c Config) jobs() []job {
	var out []job
	add := func(kind int, n, per int64) {
		for i, lo := 0, int64(0); lo < n; i, lo = i+1, lo+per {
			out = append(out, job{kind: kind, chunk: i, lo: lo, hi: min(n, lo+per)})
		}
	}
	// The big table first, so the slowest writer starts early.
	add(6, c.Rows(Orders), chunkOrders)
	add(5, c.Rows(Part), chunkParts)
	add(0, c.Rows(Region), chunkRows)
	add(1, c.Rows(Nation), chunkRows)
	add(2, c.Rows(Supplier), chunkRows)
	add(3, c.Rows(Customer), chunkRows)
	add(4, c.Rows(Part), chunkRows)
	return out
}

// generate runs one job and returns its records (orders then lineitem for kind 6).
func (c Config) generate(j job) []arrow.RecordBatch {
	r := newRNG(c.Seed, j.kind, j.chunk)
	switch Tables[j.kind] {
	case Region:
		return []arrow.RecordBatch{c.region(r)}
	case Nation:
		return []arrow.RecordBatch{c.nation(r)}
	case Supplier:
		return []arrow.RecordBatch{c.supplier(r, j.lo, j.hi)}
	case Customer:
		return []arrow.RecordBatch{c.customer(r, j.lo, j.hi)}
	case Part:
		return []arrow.RecordBatch{c.part(r, j.lo, j.hi)}
	case PartSupp:
		return []arrow.RecordBatch{c.partsupp(r, j.lo, j.hi)}
	case Orders:
		o, l := c.ordersLineitem(r, j.lo, j.hi)
		return []arrow.RecordBatch{o, l}
	}
	panic("tpchgen: unknown job kind")
}

func (c Config) region(r *rng) arrow.RecordBatch {
	n := len(regionNames)
	keys, names, cmts := make(int64Col, n), newStrCol(n, 8), newStrCol(n, 72)
	for i := range n {
		keys[i] = int64(i)
		names.add(regionNames[i])
		cmts.addText(r, 31, 115)
	}
	return newRecord(schemas[Region], []arrow.Array{keys.array(), names.array(), cmts.array()})
}

func (c Config) nation(r *rng) arrow.RecordBatch {
	n := len(nationNames)
	keys, names, regs, cmts := make(int64Col, n), newStrCol(n, 8), make(int64Col, n), newStrCol(n, 72)
	for i := range n {
		keys[i] = int64(i)
		names.add(nationNames[i])
		regs[i] = nationRegion[i]
		cmts.addText(r, 31, 114)
	}
	return newRecord(schemas[Nation], []arrow.Array{keys.array(), names.array(), regs.array(), cmts.array()})
}

func (c Config) supplier(r *rng, lo, hi int64) arrow.RecordBatch {
	n := int(hi - lo)
	keys, names, addrs, nats := make(int64Col, n), newStrCol(n, 18), newStrCol(n, 25), make(int64Col, n)
	phones, bals, cmts := newStrCol(n, 15), make(moneyCol, 0, n), newStrCol(n, 63)
	for i := range n {
		k := lo + int64(i) + 1
		keys[i] = k
		names.addKeyed("Supplier#", k)
		addrs.addVString(r, 10, 40)
		nats[i] = r.between(0, 24)
		phones.addPhone(r, nats[i])
		bals.add(r.between(-99_999, 999_999))
		// Five in 10,000 suppliers have complaints and five recommendations (Q16).
		switch b := r.between(1, 10_000); {
		case b <= 5:
			cmts.addText(r, 5, 40)
			cmts.data = append(cmts.data[:len(cmts.data)], " Customer Complaints"...)
			cmts.off[len(cmts.off)-1] = int32(len(cmts.data))
		case b <= 10:
			cmts.addText(r, 5, 40)
			cmts.data = append(cmts.data[:len(cmts.data)], " Customer Recommends"...)
			cmts.off[len(cmts.off)-1] = int32(len(cmts.data))
		default:
			cmts.addText(r, 25, 100)
		}
	}
	return newRecord(schemas[Supplier], []arrow.Array{keys.array(), names.array(), addrs.array(), nats.array(), phones.array(), bals.array(), cmts.array()})
}

func (c Config) customer(r *rng, lo, hi int64) arrow.RecordBatch {
	n := int(hi - lo)
	keys, names, addrs, nats := make(int64Col, n), newStrCol(n, 18), newStrCol(n, 25), make(int64Col, n)
	phones, bals, segs, cmts := newStrCol(n, 15), make(moneyCol, 0, n), newStrCol(n, 10), newStrCol(n, 73)
	for i := range n {
		k := lo + int64(i) + 1
		keys[i] = k
		names.addKeyed("Customer#", k)
		addrs.addVString(r, 10, 40)
		nats[i] = r.between(0, 24)
		phones.addPhone(r, nats[i])
		bals.add(r.between(-99_999, 999_999))
		segs.add(segments[r.pick(len(segments))])
		cmts.addText(r, 29, 116)
	}
	return newRecord(schemas[Customer], []arrow.Array{keys.array(), names.array(), addrs.array(), nats.array(), phones.array(), bals.array(), segs.array(), cmts.array()})
}

// retailCents is dbgen's price formula for a part.
func retailCents(partkey int64) int64 {
	return 90_000 + (partkey/10)%20_001 + 100*(partkey%1_000)
}

// supplierOf returns the i-th (0..3) supplier of a part among s suppliers: dbgen's
// formula, whose step is kept below s/3 so the four are distinct at any scale factor
// (unchanged from dbgen's at scale factors from 0.25 up).
func supplierOf(partkey, i, s int64) int64 {
	q := (partkey - 1) / s
	step := s/suppPerPart + q%max(1, s/12)
	return (partkey+i*step)%s + 1
}

func (c Config) part(r *rng, lo, hi int64) arrow.RecordBatch {
	n := int(hi - lo)
	keys, names, mfgrs, brands := make(int64Col, n), newStrCol(n, 33), newStrCol(n, 14), newStrCol(n, 8)
	types, sizes, conts, prices, cmts := newStrCol(n, 21), make(int32Col, n), newStrCol(n, 8), make(moneyCol, 0, n), newStrCol(n, 14)
	for i := range n {
		k := lo + int64(i) + 1
		keys[i] = k
		var picked [5]int
		for w := 0; w < 5; w++ {
		again:
			x := r.pick(len(colors))
			for _, p := range picked[:w] {
				if p == x {
					goto again
				}
			}
			picked[w] = x
			if w > 0 {
				names.data = append(names.data, ' ')
			}
			names.data = append(names.data, colors[x]...)
		}
		names.end()
		m, b := r.between(1, 5), r.between(1, 5)
		mfgrs.data = append(mfgrs.data, "Manufacturer#"...)
		mfgrs.data = append(mfgrs.data, byte('0'+m))
		mfgrs.end()
		brands.data = append(brands.data, "Brand#"...)
		brands.data = append(brands.data, byte('0'+m), byte('0'+b))
		brands.end()
		types.data = append(types.data, typeS1[r.pick(len(typeS1))]...)
		types.data = append(types.data, ' ')
		types.data = append(types.data, typeS2[r.pick(len(typeS2))]...)
		types.data = append(types.data, ' ')
		types.data = append(types.data, typeS3[r.pick(len(typeS3))]...)
		types.end()
		sizes[i] = int32(r.between(1, 50))
		conts.data = append(conts.data, containerS1[r.pick(len(containerS1))]...)
		conts.data = append(conts.data, ' ')
		conts.data = append(conts.data, containerS2[r.pick(len(containerS2))]...)
		conts.end()
		prices.add(retailCents(k))
		cmts.addText(r, 5, 22)
	}
	return newRecord(schemas[Part], []arrow.Array{keys.array(), names.array(), mfgrs.array(), brands.array(), types.array(), sizes.array(), conts.array(), prices.array(), cmts.array()})
}

func (c Config) partsupp(r *rng, lo, hi int64) arrow.RecordBatch {
	n := int(hi-lo) * suppPerPart
	s := c.Rows(Supplier)
	pks, sks, qtys, costs, cmts := make(int64Col, 0, n), make(int64Col, 0, n), make(int32Col, 0, n), make(moneyCol, 0, n), newStrCol(n, 124)
	for p := lo + 1; p <= hi; p++ {
		for i := range int64(suppPerPart) {
			pks = append(pks, p)
			sks = append(sks, supplierOf(p, i, s))
			qtys = append(qtys, int32(r.between(1, 9_999)))
			costs.add(r.between(100, 100_000))
			cmts.addText(r, 49, 198)
		}
	}
	return newRecord(schemas[PartSupp], []arrow.Array{pks.array(), sks.array(), qtys.array(), costs.array(), cmts.array()})
}

// orderKey makes keys sparse as dbgen does: the first 8 of every 32.
func orderKey(i int64) int64 { return (i/8)*32 + i%8 + 1 }

var (
	flagR, flagA, flagN = "R", "A", "N"
	statusO, statusF    = "O", "F"
)

func (c Config) ordersLineitem(r *rng, lo, hi int64) (arrow.RecordBatch, arrow.RecordBatch) {
	n := int(hi - lo)
	nl := n * 4
	custs, parts, supps := c.Rows(Customer), c.Rows(Part), c.Rows(Supplier)
	clerks := max(1, int64(1000*c.SF))

	oKey, oCust, oStatus, oPrice := make(int64Col, n), make(int64Col, n), newStrCol(n, 1), make(moneyCol, 0, n)
	oDate, oPrio, oClerk, oShip, oCmt := make(dateCol, n), newStrCol(n, 9), newStrCol(n, 15), make(int32Col, n), newStrCol(n, 49)

	lKey, lPart, lSupp, lNum := make(int64Col, 0, nl), make(int64Col, 0, nl), make(int64Col, 0, nl), make(int32Col, 0, nl)
	lQty, lPrice, lDisc, lTax := make(moneyCol, 0, nl), make(moneyCol, 0, nl), make(moneyCol, 0, nl), make(moneyCol, 0, nl)
	lFlag, lStatus := newStrCol(nl, 1), newStrCol(nl, 1)
	lShip, lCommit, lReceipt := make(dateCol, 0, nl), make(dateCol, 0, nl), make(dateCol, 0, nl)
	lInstr, lMode, lCmt := newStrCol(nl, 12), newStrCol(nl, 4), newStrCol(nl, 27)

	for i := range n {
		k := orderKey(lo + int64(i))
		oKey[i] = k
		// Customers whose key is a multiple of three place no orders.
		ck, delta := r.between(1, custs), int64(1)
		for ck%3 == 0 && custs >= 3 {
			ck = min(max(ck+delta, 1), custs)
			delta = -delta
		}
		oCust[i] = ck
		od := arrow.Date32(r.between(int64(startDate), int64(lastOrderDate)))
		oDate[i] = od
		oPrio.add(priorities[r.pick(len(priorities))])
		oClerk.addKeyed("Clerk#", r.between(1, clerks))
		oCmt.addText(r, 19, 78)

		lines := r.between(1, 7)
		var total int64
		var nF int64
		for ln := int64(1); ln <= lines; ln++ {
			pk := r.between(1, parts)
			lKey = append(lKey, k)
			lPart = append(lPart, pk)
			lSupp = append(lSupp, supplierOf(pk, r.between(0, suppPerPart-1), supps))
			lNum = append(lNum, int32(ln))
			q := r.between(1, 50)
			disc, tax := r.between(0, 10), r.between(0, 8)
			ext := q * retailCents(pk)
			lQty.add(q * 100)
			lPrice.add(ext)
			lDisc.add(disc)
			lTax.add(tax)
			total += ext * (100 - disc) / 100 * (100 + tax) / 100
			ship := od + arrow.Date32(r.between(1, 121))
			commit := od + arrow.Date32(r.between(30, 90))
			receipt := ship + arrow.Date32(r.between(1, 30))
			lShip, lCommit, lReceipt = append(lShip, ship), append(lCommit, commit), append(lReceipt, receipt)
			switch {
			case receipt > currentDate:
				lFlag.add(flagN)
			case r.between(0, 1) == 0:
				lFlag.add(flagR)
			default:
				lFlag.add(flagA)
			}
			if ship > currentDate {
				lStatus.add(statusO)
			} else {
				lStatus.add(statusF)
				nF++
			}
			lInstr.add(shipInstructs[r.pick(len(shipInstructs))])
			lMode.add(shipModes[r.pick(len(shipModes))])
			lCmt.addText(r, 10, 43)
		}
		switch nF {
		case lines:
			oStatus.add(statusF)
		case 0:
			oStatus.add(statusO)
		default:
			oStatus.add("P")
		}
		oPrice.add(total)
	}
	o := newRecord(schemas[Orders], []arrow.Array{oKey.array(), oCust.array(), oStatus.array(), oPrice.array(), oDate.array(), oPrio.array(), oClerk.array(), oShip.array(), oCmt.array()})
	l := newRecord(schemas[Lineitem], []arrow.Array{lKey.array(), lPart.array(), lSupp.array(), lNum.array(), lQty.array(), lPrice.array(), lDisc.array(), lTax.array(),
		lFlag.array(), lStatus.array(), lShip.array(), lCommit.array(), lReceipt.array(), lInstr.array(), lMode.array(), lCmt.array()})
	return o, l
}
