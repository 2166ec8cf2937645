package cdc

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/strata-data/strata/change"
)

// ErrGeneratorConfig is returned (wrapped) for a GeneratorConfig that cannot run, so
// callers building configs from flags or URLs can tell a bad setting from a failure.
var ErrGeneratorConfig = errors.New("cdc: invalid generator config")

// GeneratorConfig describes a synthetic OLTP workload (a shop with customers, orders and
// payments). The zero value works: an unlimited, unthrottled stream for seed 0.
type GeneratorConfig struct {
	// Seed makes the workload reproducible: the same config gives byte-identical records.
	Seed int64
	// Events is how many data change events to produce before io.EOF; 0 is unlimited.
	// Transactions are never cut: the last one is chosen to end exactly at Events.
	Events int
	// Rate caps Source.Read at this many data events per second; 0 is as fast as possible.
	// NextRecord is never throttled.
	Rate float64
	// Server is the logical server name: topic prefix and source.name (default "gen").
	Server string
	// Customers is the size of the customer key space the workload grows to and then
	// hovers around (default 1000).
	Customers int
	// TxMetadata adds Debezium transaction metadata: BEGIN/END records on topic
	// "<Server>.transaction" and a transaction block in every event.
	TxMetadata bool
	// AddColumnAt is the data event index from which the orders table has a nullable
	// column discount Decimal(12,2). The change takes effect at the first transaction
	// that starts at or after that index (DDL runs between transactions). 0 means the
	// default: Events/2 for a finite run, never for an unlimited one; -1 is never.
	AddColumnAt int
	// Metrics counts decoded and rejected events when the generator is used as a Source.
	Metrics *Metrics
	// DeadLetters receives records the decoder rejects when used as a Source.
	DeadLetters DeadLetters
	// Zipf is the skew s (> 1) with which existing rows are picked: a few customers and
	// orders are hot, most are cold (default 1.1).
	Zipf float64
}

const (
	genDefaultServer    = "gen"
	genDefaultCustomers = 1000
	genDefaultZipf      = 1.1
	genVersion          = "3.2.0.Final" // Debezium version reported in source.version
	genDB               = "shop"
	genStartMicros      = 1767225600_000_000 // 2026-01-01T00:00:00Z: the synthetic clock's origin
	genStartLSN         = 0x1_6B37_4D48      // WAL position of the commit before the first transaction
	genStartXID         = 770                // first transaction id
	genMaxServerLen     = 200                // leaves room for ".public.payments" within Kafka's 249
)

// Validate reports the first setting that cannot run, wrapping ErrGeneratorConfig.
func (c GeneratorConfig) Validate() error {
	switch {
	case c.Events < 0:
		return fmt.Errorf("%w: Events is %d, want >= 0 (0: unlimited)", ErrGeneratorConfig, c.Events)
	case c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0):
		return fmt.Errorf("%w: Rate is %v, want a finite number >= 0 (0: unthrottled)", ErrGeneratorConfig, c.Rate)
	case c.Customers < 0:
		return fmt.Errorf("%w: Customers is %d, want >= 0", ErrGeneratorConfig, c.Customers)
	case c.AddColumnAt < -1:
		return fmt.Errorf("%w: AddColumnAt is %d, want >= -1 (-1: never)", ErrGeneratorConfig, c.AddColumnAt)
	case c.Zipf != 0 && (!(c.Zipf > 1) || math.IsInf(c.Zipf, 0)):
		return fmt.Errorf("%w: Zipf is %v, want a finite skew > 1", ErrGeneratorConfig, c.Zipf)
	case len(c.Server) > genMaxServerLen:
		return fmt.Errorf("%w: Server has %d bytes, want at most %d", ErrGeneratorConfig, len(c.Server), genMaxServerLen)
	}
	for i := 0; i < len(c.Server); i++ {
		if b := c.Server[i]; !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_' || b == '-' || b == '.') {
			return fmt.Errorf("%w: Server %q has %q at byte %d; a Kafka topic prefix allows only [A-Za-z0-9._-]",
				ErrGeneratorConfig, c.Server, b, i)
		}
	}
	return nil
}

// withDefaults fills the zero fields; it is the only place defaults are decided.
func (c GeneratorConfig) withDefaults() GeneratorConfig {
	if c.Server == "" {
		c.Server = genDefaultServer
	}
	if c.Customers == 0 {
		c.Customers = genDefaultCustomers
	}
	if c.Zipf == 0 {
		c.Zipf = genDefaultZipf
	}
	if c.AddColumnAt == 0 {
		if c.Events > 0 {
			c.AddColumnAt = c.Events / 2
		} else {
			c.AddColumnAt = -1
		}
	}
	return c
}

// Generator produces a deterministic OLTP change stream exactly as Debezium's PostgreSQL
// connector with the Kafka JSON converter (schemas.enable=true, tombstones off) would: use
// NextRecord for raw records (benchmarks, writing fixtures) or its Source methods for
// decoded events (the quickstart's embedded source). Its clock is synthetic, starting at
// 2026-01-01T00:00:00Z, so output depends only on the config. NextRecord and the Source
// methods share one stream; Open restarts it.
type Generator struct {
	cfg GeneratorConfig
	err error // config error, returned by every call

	tables  [genNumTables]genTable
	srcHead []byte // `,"source":{"version":...,"name":"<server>","ts_ms":`
	txTopic string
	txKey   []byte // key prefix of transaction metadata records
	txValue []byte // value prefix of transaction metadata records

	st             genState
	keyBuf, valBuf []byte

	// Source side.
	dec       *DebeziumDecoder
	batchErr  error // what stopped the last ReadBatch after some events
	opened    bool
	closed    atomic.Bool
	from      Position
	pending   Event
	hasPend   bool
	paceStart time.Time
	paced     int64
	timer     *time.Timer

	mu    sync.Mutex
	acked Position

	// tamper, when set, may corrupt records before the Source decodes them: fault
	// injection that lets tests drive the dead-letter path through real code.
	tamper func(*Record)
}

// NewGenerator builds a generator for cfg. An invalid cfg is reported (wrapping
// ErrGeneratorConfig) by the first NextRecord or Open.
func NewGenerator(cfg GeneratorConfig) *Generator {
	g := &Generator{}
	if err := cfg.Validate(); err != nil {
		g.err = err
		return g
	}
	g.cfg = cfg.withDefaults()
	g.prerender()
	g.reset()
	return g
}

// ---- workload state ----

const (
	tblCustomers = iota
	tblOrders
	tblPayments
	genNumTables
)

var genTableNames = [genNumTables]string{"customers", "orders", "payments"}

const (
	statusPending = iota
	statusPaid
	statusShipped
	statusCancelled
)

var (
	genStatuses = [...]string{"pending", "paid", "shipped", "cancelled"}
	genSegments = [...]string{"consumer", "corporate", "home_office"}
	genMethods  = [...]string{"card", "bank_transfer", "paypal", "gift_card"}
	genFirst    = [...]string{"Ada", "Alan", "Grace", "Linus", "Barbara", "Edsger", "Donald", "Margaret",
		"Ken", "Dennis", "Frances", "John", "Radia", "Niklaus", "Leslie", "Tim",
		"Shafi", "Sophie", "Yukihiro", "Guido", "Anita", "Bjarne", "Hedy", "Jean",
		"Karen", "Lynn", "Mary", "Ole", "Rob", "Ivan", "Joan", "Rasmus"}
	genLast = [...]string{"Lovelace", "Turing", "Hopper", "Torvalds", "Liskov", "Dijkstra", "Knuth", "Hamilton",
		"Thompson", "Ritchie", "Allen", "Backus", "Perlman", "Wirth", "Lamport", "Berners-Lee",
		"Goldwasser", "Wilson", "Matsumoto", "van Rossum", "Borg", "Stroustrup", "Lamarr", "Sammet",
		"Jones", "Conway", "Shaw", "Dahl", "Pike", "Sutherland", "Clarke", "Lerdorf"}
	genDomains = [...]string{"example.com", "example.org", "example.net", "mail.test"}
	genFirstLC = lowerAll(genFirst[:])
	genLastLC  = lowerAll(genLast[:])
)

func lowerAll(in []string) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = strings.ReplaceAll(strings.ToLower(s), " ", "")
	}
	return out
}

type genCustomer struct {
	id, created int64
	emailVer    uint32
	orders      int32 // orders ever placed; a customer with none may be deleted
	first, last uint8
	domain      uint8
	segment     uint8
}

type genOrderRow struct {
	id, customer int64
	amount       int64 // cents
	discount     int64 // cents, when hasDiscount
	updated      int64 // µs
	date         int32 // days since epoch
	status       uint8
	hasDiscount  bool
}

type genPayment struct {
	id, order, amount, paid int64
	method                  uint8
}

type genOrder struct {
	row  genOrderRow
	pays [2]genPayment
	nPay int
}

// genEvent is one data change of the current transaction, kept until it is rendered.
type genEvent struct {
	table  uint8
	op     byte // 'c', 'u', 'd'
	ver    uint8
	lsn    uint64
	cb, ca genCustomer
	ob, oa genOrderRow
	pb, pa genPayment
}

type genState struct {
	rng                 *rand.Rand
	custZ, pendZ, paidZ zipfPicker

	customers []genCustomer
	pending   []genOrder // placed, not paid
	paid      []genOrder // paid, not shipped

	nextCust, nextOrder, nextPay int64
	lsn, lastCommit              uint64
	xid                          int64
	clock                        int64 // commit time of the current transaction, µs
	events                       int   // data events generated so far
	v2                           bool  // orders has the discount column

	tx                  []genEvent
	txPrev              uint64 // commit LSN of the previous transaction
	txBegin, txCommit   uint64
	txXID               int64
	cursor              int // next record of the transaction to render
	offsets             [genNumTables + 1]int64
	collOrder           [genNumTables]int64
	collCount           [genNumTables]int64
	collFirst           [genNumTables]int // first-seen order of tables in the transaction
	nColl               int
	txIDBegin, txIDDone []byte // "xid:beginLSN", "xid:commitLSN"
	// Text rendered once per transaction: the commit time in µs, the xid, and the
	// source block from ts_ms up to the event's LSN in sequence.
	clockText, txXIDText, txHead []byte
}

func (g *Generator) reset() {
	tx := g.st.tx[:0]
	seed := uint64(g.cfg.Seed)
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	g.st = genState{
		rng:        r,
		custZ:      zipfPicker{s: g.cfg.Zipf},
		pendZ:      zipfPicker{s: g.cfg.Zipf},
		paidZ:      zipfPicker{s: g.cfg.Zipf},
		nextCust:   1,
		nextOrder:  1,
		nextPay:    1,
		lsn:        genStartLSN,
		lastCommit: genStartLSN,
		xid:        genStartXID - 1,
		clock:      genStartMicros,
		tx:         tx,
		txIDBegin:  g.st.txIDBegin[:0],
		txIDDone:   g.st.txIDDone[:0],
		clockText:  g.st.clockText[:0],
		txXIDText:  g.st.txXIDText[:0],
		txHead:     g.st.txHead[:0],
	}
}

// zipfPicker draws indexes in [0, n) with Zipf skew for a population that changes size.
// It keeps one rand.Zipf over a power-of-two range covering n and redraws values past
// n, rebuilding only when n leaves [range/4, range].
type zipfPicker struct {
	s    float64
	z    *rand.Zipf
	size uint64
}

func (p *zipfPicker) pick(r *rand.Rand, n int) int {
	if n <= 1 {
		return 0
	}
	un := uint64(n)
	if p.z == nil || un > p.size || un*4 < p.size {
		p.size = uint64(1) << bits.Len64(un-1) // smallest power of two >= n
		p.z = rand.NewZipf(r, p.s, 1, p.size-1)
	}
	for {
		if k := p.z.Uint64(); k < un {
			return int(k)
		}
	}
}

// Transaction kinds.
const (
	kNewCustomer = iota
	kPlaceOrder
	kPay
	kShip
	kCancel
	kUpdateCustomer
	kDeleteCustomer
	kNumKinds
)

// genTx generates the next transaction into st.tx, at most budget events long.
func (g *Generator) genTx(budget int) {
	s := &g.st
	r := s.rng
	s.tx = s.tx[:0]
	s.cursor = 0
	if !s.v2 && g.cfg.AddColumnAt >= 0 && s.events >= g.cfg.AddColumnAt {
		s.v2 = true
	}
	s.xid++
	s.txXID = s.xid
	s.clock += 200 + r.Int64N(1800)
	s.txPrev = s.lastCommit
	s.txBegin = s.advance()

	nc := len(s.customers)
	var w [kNumKinds]int
	w[kNewCustomer] = 4
	if nc < g.cfg.Customers {
		w[kNewCustomer] = 40
	}
	if nc > 0 {
		w[kPlaceOrder] = 30
		w[kUpdateCustomer] = 10
		w[kDeleteCustomer] = 2
		if nc > g.cfg.Customers {
			w[kDeleteCustomer] = 6
		}
	}
	if len(s.pending) > 0 && budget >= 2 {
		w[kPay] = 24
	}
	if len(s.paid) > 0 {
		w[kShip] = 30
	}
	if len(s.pending)+len(s.paid) > 0 {
		w[kCancel] = 4
	}
	total := 0
	for _, x := range w {
		total += x
	}
	pick := r.IntN(total)
	kind := 0
	for ; kind < kNumKinds-1 && pick >= w[kind]; kind++ {
		pick -= w[kind]
	}
	ok := true
	switch kind {
	case kPlaceOrder:
		g.placeOrder(budget)
	case kPay:
		g.pay(budget)
	case kShip:
		g.ship()
	case kCancel:
		ok = g.cancel(budget)
	case kUpdateCustomer:
		g.updateCustomer()
	case kDeleteCustomer:
		ok = g.deleteCustomer()
	default:
		ok = false
	}
	if !ok {
		g.newCustomer() // always fits: one event
	}

	s.txCommit = s.advance()
	s.lastCommit = s.txCommit
	s.events += len(s.tx)
	s.txIDBegin = appendTxID(s.txIDBegin[:0], s.txXID, s.txBegin)
	s.txIDDone = appendTxID(s.txIDDone[:0], s.txXID, s.txCommit)
	s.clockText = strconv.AppendInt(s.clockText[:0], s.clock, 10)
	s.txXIDText = strconv.AppendInt(s.txXIDText[:0], s.txXID, 10)
	h := append(s.txHead[:0], g.srcHead...)
	h = append(h, s.clockText[:len(s.clockText)-3]...) // ms: the clock is far past 1000 µs
	h = append(h, `,"ts_us":`...)
	h = append(h, s.clockText...)
	h = append(h, `,"ts_ns":`...)
	h = append(h, s.clockText...)
	h = append(h, `000,"snapshot":"false","db":"`+genDB+`","sequence":"[\"`...)
	h = strconv.AppendUint(h, s.txPrev, 10)
	s.txHead = append(h, `\",\"`...)
	s.nColl = 0
	s.collOrder = [genNumTables]int64{}
	s.collCount = [genNumTables]int64{}
	for i := range s.tx {
		t := s.tx[i].table
		if s.collCount[t] == 0 {
			s.collFirst[s.nColl] = int(t)
			s.nColl++
		}
		s.collCount[t]++
	}
}

func appendTxID(b []byte, xid int64, lsn uint64) []byte {
	b = strconv.AppendInt(b, xid, 10)
	b = append(b, ':')
	return strconv.AppendUint(b, lsn, 10)
}

// advance moves the WAL position by one 8-byte aligned record and returns it.
func (s *genState) advance() uint64 {
	s.lsn += 8 * uint64(3+s.rng.IntN(40))
	return s.lsn
}

func (s *genState) emit(e genEvent) {
	e.lsn = s.advance()
	s.tx = append(s.tx, e)
}

func (s *genState) amount() int64 {
	r := s.rng
	if r.IntN(100) == 0 { // a rare large order exercises wide decimals
		return 100_000_00 + r.Int64N(999_999_999_999-100_000_00)
	}
	return 5_00 + r.Int64N(2_000_00)
}

func (g *Generator) newCustomer() {
	s := &g.st
	r := s.rng
	seg := uint8(0)
	switch x := r.IntN(20); {
	case x >= 17:
		seg = 2
	case x >= 12:
		seg = 1
	}
	c := genCustomer{
		id:      s.nextCust,
		created: s.clock,
		first:   uint8(r.IntN(len(genFirst))),
		last:    uint8(r.IntN(len(genLast))),
		domain:  uint8(r.IntN(len(genDomains))),
		segment: seg,
	}
	s.nextCust++
	s.customers = append(s.customers, c)
	s.emit(genEvent{table: tblCustomers, op: 'c', ca: c})
}

func (g *Generator) updateCustomer() {
	s := &g.st
	r := s.rng
	c := &s.customers[s.custZ.pick(r, len(s.customers))]
	before := *c
	if r.IntN(2) == 0 {
		c.emailVer++
		if r.IntN(3) == 0 {
			c.domain = uint8((int(c.domain) + 1 + r.IntN(len(genDomains)-1)) % len(genDomains))
		}
	} else {
		c.segment = uint8((int(c.segment) + 1 + r.IntN(len(genSegments)-1)) % len(genSegments))
	}
	s.emit(genEvent{table: tblCustomers, op: 'u', cb: before, ca: *c})
}

// deleteCustomer deletes a cold customer that never ordered (so no order refers to it);
// it reports false when the few candidates it looks at all have orders.
func (g *Generator) deleteCustomer() bool {
	s := &g.st
	for try := 0; try < 4; try++ {
		n := len(s.customers)
		i := n - 1 - s.custZ.pick(s.rng, n)
		if s.customers[i].orders != 0 {
			continue
		}
		c := s.customers[i]
		s.customers[i] = s.customers[n-1]
		s.customers = s.customers[:n-1]
		s.emit(genEvent{table: tblCustomers, op: 'd', cb: c})
		return true
	}
	return false
}

func (g *Generator) newPayment(order, amount int64) genPayment {
	s := &g.st
	p := genPayment{id: s.nextPay, order: order, amount: amount, paid: s.clock, method: uint8(s.rng.IntN(len(genMethods)))}
	s.nextPay++
	return p
}

func (g *Generator) placeOrder(budget int) {
	s := &g.st
	r := s.rng
	c := &s.customers[s.custZ.pick(r, len(s.customers))]
	c.orders++
	o := genOrder{row: genOrderRow{
		id: s.nextOrder, customer: c.id, amount: s.amount(),
		updated: s.clock, date: int32(s.clock / 86_400_000_000), status: statusPending,
	}}
	s.nextOrder++
	ver := uint8(0)
	if s.v2 {
		ver = 1
		if r.IntN(10) < 6 {
			o.row.hasDiscount = true
			o.row.discount = o.row.amount * int64(1+r.IntN(25)) / 100
		}
	}
	withPay := budget >= 2 && r.IntN(10) < 3
	if withPay {
		o.row.status = statusPaid
	}
	s.emit(genEvent{table: tblOrders, op: 'c', ver: ver, oa: o.row})
	if withPay {
		o.pays[0] = g.newPayment(o.row.id, o.row.due())
		o.nPay = 1
		s.emit(genEvent{table: tblPayments, op: 'c', pa: o.pays[0]})
		s.paid = append(s.paid, o)
		return
	}
	s.pending = append(s.pending, o)
}

func (o *genOrderRow) due() int64 {
	if o.hasDiscount {
		return o.amount - o.discount
	}
	return o.amount
}

func takeOrder(list *[]genOrder, i int) genOrder {
	l := *list
	o := l[i]
	l[i] = l[len(l)-1]
	*list = l[:len(l)-1]
	return o
}

func (g *Generator) ver() uint8 {
	if g.st.v2 {
		return 1
	}
	return 0
}

func (g *Generator) pay(budget int) {
	s := &g.st
	r := s.rng
	o := takeOrder(&s.pending, s.pendZ.pick(r, len(s.pending)))
	due := o.row.due()
	if budget >= 3 && r.IntN(100) < 15 && due >= 2 {
		first := due * int64(20+r.IntN(61)) / 100
		o.pays[0] = g.newPayment(o.row.id, first)
		o.pays[1] = g.newPayment(o.row.id, due-first)
		o.nPay = 2
	} else {
		o.pays[0] = g.newPayment(o.row.id, due)
		o.nPay = 1
	}
	for i := 0; i < o.nPay; i++ {
		s.emit(genEvent{table: tblPayments, op: 'c', pa: o.pays[i]})
	}
	before := o.row
	o.row.status = statusPaid
	o.row.updated = s.clock
	s.emit(genEvent{table: tblOrders, op: 'u', ver: g.ver(), ob: before, oa: o.row})
	s.paid = append(s.paid, o)
}

func (g *Generator) ship() {
	s := &g.st
	o := takeOrder(&s.paid, s.paidZ.pick(s.rng, len(s.paid)))
	before := o.row
	o.row.status = statusShipped
	o.row.updated = s.clock
	s.emit(genEvent{table: tblOrders, op: 'u', ver: g.ver(), ob: before, oa: o.row})
}

// cancel cancels an open order and deletes its payments; false when that does not fit
// in budget events.
func (g *Generator) cancel(budget int) bool {
	s := &g.st
	r := s.rng
	var list *[]genOrder
	var z *zipfPicker
	if r.IntN(len(s.pending)+len(s.paid)) < len(s.pending) {
		list, z = &s.pending, &s.pendZ
	} else {
		list, z = &s.paid, &s.paidZ
	}
	i := z.pick(r, len(*list))
	if 1+(*list)[i].nPay > budget {
		return false
	}
	o := takeOrder(list, i)
	for j := 0; j < o.nPay; j++ {
		s.emit(genEvent{table: tblPayments, op: 'd', pb: o.pays[j]})
	}
	before := o.row
	o.row.status = statusCancelled
	o.row.updated = s.clock
	s.emit(genEvent{table: tblOrders, op: 'u', ver: g.ver(), ob: before, oa: o.row})
	return true
}

// ---- rendering ----

// genTable holds the pre-rendered JSON of one table.
type genTable struct {
	topic       string
	collection  string    // "public.orders", as transaction metadata names it
	keyPrefix   []byte    // `{"schema":{...},"payload":{"id":`
	valuePrefix [2][]byte // per orders schema version: `{"schema":{...},"payload":{"before":`
	sourceTail  []byte    // `,"schema":"public","table":"orders","txId":`
}

type genCol struct {
	field, typ, logical, params string
	optional                    bool
}

const (
	genDecimalParams = `{"scale":"2","connect.decimal.precision":"12"}`
	genDecimal       = "org.apache.kafka.connect.data.Decimal"
	genMicroTS       = "io.debezium.time.MicroTimestamp"
	genDate          = "io.debezium.time.Date"
	genEnum          = "io.debezium.data.Enum"
)

func genColumns(table int, v2 bool) []genCol {
	switch table {
	case tblCustomers:
		return []genCol{
			{field: "id", typ: "int64"},
			{field: "name", typ: "string"},
			{field: "email", typ: "string"},
			{field: "segment", typ: "string", logical: genEnum, params: `{"allowed":"` + strings.Join(genSegments[:], ",") + `"}`},
			{field: "created_at", typ: "int64", logical: genMicroTS},
		}
	case tblOrders:
		cols := []genCol{
			{field: "id", typ: "int64"},
			{field: "customer_id", typ: "int64"},
			{field: "status", typ: "string", logical: genEnum, params: `{"allowed":"` + strings.Join(genStatuses[:], ",") + `"}`},
			{field: "amount", typ: "bytes", logical: genDecimal, params: genDecimalParams},
			{field: "order_date", typ: "int32", logical: genDate},
			{field: "updated_at", typ: "int64", logical: genMicroTS},
		}
		if v2 {
			cols = append(cols, genCol{field: "discount", typ: "bytes", logical: genDecimal, params: genDecimalParams, optional: true})
		}
		return cols
	default:
		return []genCol{
			{field: "id", typ: "int64"},
			{field: "order_id", typ: "int64"},
			{field: "amount", typ: "bytes", logical: genDecimal, params: genDecimalParams},
			{field: "method", typ: "string"},
			{field: "paid_at", typ: "int64", logical: genMicroTS},
		}
	}
}

func (c genCol) json() string {
	var b strings.Builder
	b.WriteString(`{"type":"` + c.typ + `","optional":` + strconv.FormatBool(c.optional))
	if c.logical != "" {
		b.WriteString(`,"name":"` + c.logical + `","version":1`)
	}
	if c.params != "" {
		b.WriteString(`,"parameters":` + c.params)
	}
	b.WriteString(`,"field":"` + c.field + `"}`)
	return b.String()
}

func structSchema(cols []genCol, optional bool, name, field string) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = c.json()
	}
	s := `{"type":"struct","fields":[` + strings.Join(parts, ",") + `],"optional":` + strconv.FormatBool(optional)
	if name != "" {
		s += `,"name":"` + name + `"`
	}
	if field != "" {
		s += `,"field":"` + field + `"`
	}
	return s + "}"
}

var genSourceSchema = structSchema([]genCol{
	{field: "version", typ: "string"},
	{field: "connector", typ: "string"},
	{field: "name", typ: "string"},
	{field: "ts_ms", typ: "int64"},
	{field: "ts_us", typ: "int64", optional: true},
	{field: "ts_ns", typ: "int64", optional: true},
	{field: "snapshot", typ: "string", logical: genEnum, optional: true,
		params: `{"allowed":"true,first,first_in_data_collection,in_data_collection,last_in_data_collection,last,false,incremental"},"default":"false"`},
	{field: "db", typ: "string"},
	{field: "sequence", typ: "string", optional: true},
	{field: "schema", typ: "string"},
	{field: "table", typ: "string"},
	{field: "txId", typ: "int64", optional: true},
	{field: "lsn", typ: "int64", optional: true},
	{field: "xmin", typ: "int64", optional: true},
}, false, "io.debezium.connector.postgresql.Source", "source")

var genTxBlockSchema = structSchema([]genCol{
	{field: "id", typ: "string"},
	{field: "total_order", typ: "int64"},
	{field: "data_collection_order", typ: "int64"},
}, true, "event.block", "transaction")

func (g *Generator) prerender() {
	srv := g.cfg.Server
	for t := 0; t < genNumTables; t++ {
		name := genTableNames[t]
		gt := &g.tables[t]
		gt.topic = srv + ".public." + name
		gt.collection = "public." + name
		gt.keyPrefix = []byte(`{"schema":` + structSchema([]genCol{{field: "id", typ: "int64"}}, false, gt.topic+".Key", "") + `,"payload":{"id":`)
		for v := 0; v < 2; v++ {
			cols := genColumns(t, v == 1)
			row := gt.topic + ".Value"
			env := `{"type":"struct","fields":[` +
				structSchema(cols, true, row, "before") + "," +
				structSchema(cols, true, row, "after") + "," +
				genSourceSchema + "," +
				`{"type":"string","optional":false,"field":"op"},` +
				`{"type":"int64","optional":true,"field":"ts_ms"},` +
				`{"type":"int64","optional":true,"field":"ts_us"},` +
				`{"type":"int64","optional":true,"field":"ts_ns"},` +
				genTxBlockSchema +
				`],"optional":false,"name":"` + gt.topic + `.Envelope"}`
			gt.valuePrefix[v] = []byte(`{"schema":` + env + `,"payload":{"before":`)
		}
		gt.sourceTail = []byte(`,"schema":"public","table":"` + name + `","txId":`)
	}
	g.srcHead = []byte(`,"source":{"version":"` + genVersion + `","connector":"postgresql","name":"` + srv + `","ts_ms":`)
	g.txTopic = srv + ".transaction"
	g.txKey = []byte(`{"schema":` + structSchema([]genCol{{field: "id", typ: "string"}}, false, "io.debezium.connector.common.TransactionMetadataKey", "") + `,"payload":{"id":"`)
	g.txValue = []byte(`{"schema":{"type":"struct","fields":[` +
		`{"type":"string","optional":false,"field":"status"},` +
		`{"type":"string","optional":false,"field":"id"},` +
		`{"type":"int64","optional":true,"field":"event_count"},` +
		`{"type":"array","items":` + structSchema([]genCol{{field: "data_collection", typ: "string"}, {field: "event_count", typ: "int64"}}, false, "", "") +
		`,"optional":true,"field":"data_collections"},` +
		`{"type":"int64","optional":false,"field":"ts_ms"}` +
		`],"optional":false,"name":"io.debezium.connector.common.TransactionMetadataValue"},"payload":{"status":"`)
}

// NextRecord returns the next raw record: a data change on "<server>.public.<table>", or
// with TxMetadata a BEGIN/END on "<server>.transaction". It returns io.EOF after
// Events data events. Key and Value point into buffers the generator reuses: they are
// valid until the next call (Clone the record to keep it).
func (g *Generator) NextRecord() (Record, error) {
	rec, _, err := g.next()
	return rec, err
}

// next renders the next record and returns the position the generator gave it.
func (g *Generator) next() (Record, Position, error) {
	if g.err != nil {
		return Record{}, Position{}, g.err
	}
	s := &g.st
	if s.cursor >= g.txRecords() {
		budget := math.MaxInt
		if g.cfg.Events > 0 {
			budget = g.cfg.Events - s.events
			if budget <= 0 {
				return Record{}, Position{}, io.EOF
			}
		}
		g.genTx(budget)
	}
	i := s.cursor
	s.cursor++
	if g.cfg.TxMetadata {
		switch i {
		case 0:
			return g.renderTx(false), Position{Major: s.txPrev, Minor: s.txBegin}, nil
		case len(s.tx) + 1:
			return g.renderTx(true), Position{Major: s.txPrev, Minor: s.txCommit}, nil
		}
		i--
	}
	rec := g.renderEvent(&s.tx[i])
	return rec, Position{Major: s.txPrev, Minor: s.tx[i].lsn}, nil
}

func (g *Generator) txRecords() int {
	if g.cfg.TxMetadata && len(g.st.tx) > 0 {
		return len(g.st.tx) + 2
	}
	return len(g.st.tx)
}

func (g *Generator) record(topic int, k, v []byte) Record {
	g.keyBuf, g.valBuf = k, v
	off := g.st.offsets[topic]
	g.st.offsets[topic]++
	name := g.txTopic
	if topic < genNumTables {
		name = g.tables[topic].topic
	}
	return Record{Topic: name, Offset: off, Key: k, Value: v, Time: time.UnixMicro(g.st.clock).UTC()}
}

func (g *Generator) renderTx(end bool) Record {
	s := &g.st
	id := s.txIDBegin
	if end {
		id = s.txIDDone
	}
	k := append(g.keyBuf[:0], g.txKey...)
	k = append(k, id...)
	k = append(k, `"}}`...)
	v := append(g.valBuf[:0], g.txValue...)
	if end {
		v = append(v, `END","id":"`...)
		v = append(v, id...)
		v = append(v, `","event_count":`...)
		v = strconv.AppendInt(v, int64(len(s.tx)), 10)
		v = append(v, `,"data_collections":[`...)
		for j := 0; j < s.nColl; j++ {
			t := s.collFirst[j]
			if j > 0 {
				v = append(v, ',')
			}
			v = append(v, `{"data_collection":"`...)
			v = append(v, g.tables[t].collection...)
			v = append(v, `","event_count":`...)
			v = strconv.AppendInt(v, s.collCount[t], 10)
			v = append(v, '}')
		}
		v = append(v, ']')
	} else {
		v = append(v, `BEGIN","id":"`...)
		v = append(v, id...)
		v = append(v, `","event_count":null,"data_collections":null`...)
	}
	v = append(v, `,"ts_ms":`...)
	v = append(v, s.clockText[:len(s.clockText)-3]...)
	v = append(v, "}}"...)
	return g.record(genNumTables, k, v)
}

func (g *Generator) renderEvent(e *genEvent) Record {
	s := &g.st
	t := &g.tables[e.table]
	var id int64
	switch e.table {
	case tblCustomers:
		id = e.ca.id
		if e.op == 'd' {
			id = e.cb.id
		}
	case tblOrders:
		id = e.oa.id
		if e.op == 'd' {
			id = e.ob.id
		}
	default:
		id = e.pa.id
		if e.op == 'd' {
			id = e.pb.id
		}
	}
	k := append(g.keyBuf[:0], t.keyPrefix...)
	k = strconv.AppendInt(k, id, 10)
	k = append(k, "}}"...)

	v := append(g.valBuf[:0], t.valuePrefix[e.ver]...)
	if e.op == 'c' {
		v = append(v, "null"...)
	} else {
		v = g.appendImage(v, e, true)
	}
	v = append(v, `,"after":`...)
	if e.op == 'd' {
		v = append(v, "null"...)
	} else {
		v = g.appendImage(v, e, false)
	}
	// source: commit time and sequence were rendered once for the transaction.
	v = append(v, s.txHead...)
	var lb [20]byte
	lsn := strconv.AppendUint(lb[:0], e.lsn, 10)
	v = append(v, lsn...)
	v = append(v, `\"]"`...)
	v = append(v, t.sourceTail...)
	v = append(v, s.txXIDText...)
	v = append(v, `,"lsn":`...)
	v = append(v, lsn...)
	v = append(v, `,"xmin":null},"op":"`...)
	v = append(v, e.op)
	// processing time: a few ms after commit, a little later for each event.
	var pb [20]byte
	proc := strconv.AppendInt(pb[:0], s.clock+1500+int64(s.cursor)*7, 10)
	v = append(v, `","ts_ms":`...)
	v = append(v, proc[:len(proc)-3]...)
	v = append(v, `,"ts_us":`...)
	v = append(v, proc...)
	v = append(v, `,"ts_ns":`...)
	v = append(v, proc...)
	ns := e.lsn % 1000
	v = append(v, byte('0'+ns/100), byte('0'+ns/10%10), byte('0'+ns%10))
	v = append(v, `,"transaction":`...)
	if g.cfg.TxMetadata {
		s.collOrder[e.table]++
		v = append(v, `{"id":"`...)
		v = append(v, s.txIDDone...)
		v = append(v, `","total_order":`...)
		v = strconv.AppendInt(v, int64(g.eventIndex()+1), 10)
		v = append(v, `,"data_collection_order":`...)
		v = strconv.AppendInt(v, s.collOrder[e.table], 10)
		v = append(v, "}}}"...)
	} else {
		v = append(v, "null}}"...)
	}
	return g.record(int(e.table), k, v)
}

// eventIndex is the 0-based index, within its transaction, of the event just rendered.
func (g *Generator) eventIndex() int {
	if g.cfg.TxMetadata {
		return g.st.cursor - 2
	}
	return g.st.cursor - 1
}

func (g *Generator) appendImage(v []byte, e *genEvent, before bool) []byte {
	switch e.table {
	case tblCustomers:
		c := &e.ca
		if before {
			c = &e.cb
		}
		v = append(v, `{"id":`...)
		v = strconv.AppendInt(v, c.id, 10)
		v = append(v, `,"name":`...)
		v = appendJSONString(v, genFirst[c.first], ' ', genLast[c.last])
		v = append(v, `,"email":"`...)
		v = append(v, genFirstLC[c.first]...)
		v = append(v, '.')
		v = append(v, genLastLC[c.last]...)
		if c.emailVer > 0 {
			v = strconv.AppendUint(v, uint64(c.emailVer), 10)
		}
		v = append(v, '@')
		v = append(v, genDomains[c.domain]...)
		v = append(v, `","segment":"`...)
		v = append(v, genSegments[c.segment]...)
		v = append(v, `","created_at":`...)
		v = g.appendMicros(v, c.created)
		return append(v, '}')
	case tblOrders:
		o := &e.oa
		if before {
			// REPLICA IDENTITY DEFAULT: the old tuple holds only the primary key.
			v = append(v, `{"id":`...)
			v = strconv.AppendInt(v, e.ob.id, 10)
			return append(v, '}')
		}
		v = append(v, `{"id":`...)
		v = strconv.AppendInt(v, o.id, 10)
		v = append(v, `,"customer_id":`...)
		v = strconv.AppendInt(v, o.customer, 10)
		v = append(v, `,"status":"`...)
		v = append(v, genStatuses[o.status]...)
		v = append(v, `","amount":"`...)
		v = appendDecimalBase64(v, o.amount)
		v = append(v, `","order_date":`...)
		v = strconv.AppendInt(v, int64(o.date), 10)
		v = append(v, `,"updated_at":`...)
		v = g.appendMicros(v, o.updated)
		if e.ver == 1 {
			if o.hasDiscount {
				v = append(v, `,"discount":"`...)
				v = appendDecimalBase64(v, o.discount)
				v = append(v, '"')
			} else {
				v = append(v, `,"discount":null`...)
			}
		}
		return append(v, '}')
	default:
		p := &e.pa
		if before {
			p = &e.pb
		}
		v = append(v, `{"id":`...)
		v = strconv.AppendInt(v, p.id, 10)
		v = append(v, `,"order_id":`...)
		v = strconv.AppendInt(v, p.order, 10)
		v = append(v, `,"amount":"`...)
		v = appendDecimalBase64(v, p.amount)
		v = append(v, `","method":"`...)
		v = append(v, genMethods[p.method]...)
		v = append(v, `","paid_at":`...)
		v = g.appendMicros(v, p.paid)
		return append(v, '}')
	}
}

// appendMicros appends a timestamp, reusing the text of the transaction's commit time,
// which most row timestamps are.
func (g *Generator) appendMicros(v []byte, us int64) []byte {
	if us == g.st.clock {
		return append(v, g.st.clockText...)
	}
	return strconv.AppendInt(v, us, 10)
}

// appendJSONString appends a, sep and b as one quoted JSON string, escaping as needed.
func appendJSONString(v []byte, a string, sep byte, b string) []byte {
	v = append(v, '"')
	v = change.AppendJSONEscaped(v, a)
	v = append(v, sep)
	v = change.AppendJSONEscaped(v, b)
	return append(v, '"')
}

// appendDecimalBase64 appends the Kafka Connect Decimal encoding of an unscaled value:
// base64 of its minimal big-endian two's-complement bytes (Java's BigInteger.toByteArray).
func appendDecimalBase64(v []byte, unscaled int64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(unscaled))
	i := 0
	if unscaled >= 0 {
		for i < 7 && b[i] == 0 && b[i+1]&0x80 == 0 {
			i++
		}
	} else {
		for i < 7 && b[i] == 0xff && b[i+1]&0x80 != 0 {
			i++
		}
	}
	return base64.StdEncoding.AppendEncode(v, b[i:])
}

// ---- Source ----

// Open implements Source: it restarts the workload from the beginning and skips, by
// decoding them, every event at or before from, so the first Read returns the event
// right after from.
func (g *Generator) Open(ctx context.Context, from Position) error {
	if g.err != nil {
		return g.err
	}
	g.reset()
	g.batchErr = nil
	g.dec = NewDebeziumDecoder(DebeziumConfig{Metrics: g.cfg.Metrics})
	g.opened = true
	g.closed.Store(false)
	g.from = from
	g.hasPend = false
	g.paceStart = time.Time{}
	g.paced = 0
	g.mu.Lock()
	g.acked = Position{}
	g.mu.Unlock()
	if from.IsZero() {
		return nil
	}
	var lastTx string // transaction of the last data event skipped
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var ev Event
		err := g.decodeNext(ctx, &ev)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if !from.Less(ev.Pos) {
			if ev.Op != OpTxBegin && ev.Op != OpTxEnd {
				lastTx = ev.TxKey()
			}
			continue
		}
		// The END of the transaction that ends at from sits just after it: it belongs
		// to what was already read.
		if ev.Op == OpTxEnd && lastTx != "" && ev.TxKey() == lastTx {
			continue
		}
		g.pending, g.hasPend = ev, true
		return nil
	}
}

// decodeNext decodes the next record into *ev, sending what the decoder rejects to dead
// letters (unless it lies at or before the open position, where an earlier run already
// did).
func (g *Generator) decodeNext(ctx context.Context, ev *Event) error {
	for {
		rec, pos, err := g.next()
		if err != nil {
			return err
		}
		if g.tamper != nil {
			g.tamper(&rec)
		}
		if err := g.dec.DecodeInto(&rec, ev); err != nil {
			if !g.from.Less(pos) {
				continue
			}
			dl := DeadLetter{Record: rec, Pos: pos}
			if rec.Topic != g.txTopic {
				dl.Table = "public." + strings.TrimPrefix(rec.Topic, g.cfg.Server+".public.")
			}
			if rerr := Reject(ctx, g.cfg.DeadLetters, g.cfg.Metrics, dl, err); rerr != nil {
				return fmt.Errorf("cdc: generator %s: %w", rec.Origin(), rerr)
			}
			continue
		}
		if ev.Pos.IsZero() {
			// Transaction metadata carries no source block: place BEGIN and END where the
			// generator put them, around the transaction's events.
			ev.Pos = pos
		}
		return nil
	}
}

var (
	errGenNotOpen = errors.New("cdc: generator: Read before Open")
	errGenClosed  = errors.New("cdc: generator: Read after Close")
)

// Read implements Source: the next decoded event (BEGIN/END as OpTxBegin/OpTxEnd with
// TxMetadata), io.EOF after Events data events. With Rate set it sleeps so that data
// events leave at that rate, returning ctx's error if ctx ends first (the event is kept
// for the next Read).
func (g *Generator) Read(ctx context.Context) (Event, error) {
	if err := g.readable(ctx); err != nil {
		return Event{}, err
	}
	if !g.hasPend {
		if err := g.decodeNext(ctx, &g.pending); err != nil {
			return Event{}, err
		}
		g.hasPend = true
		if g.cfg.Rate > 0 && g.pending.Op.IsRowChange() {
			g.paced++
		}
	}
	if g.cfg.Rate > 0 && g.pending.Op.IsRowChange() {
		if err := g.pace(ctx); err != nil {
			return Event{}, err
		}
	}
	ev := g.pending
	g.pending, g.hasPend = Event{}, false
	return ev, nil
}

func (g *Generator) readable(ctx context.Context) error {
	switch {
	case g.err != nil:
		return g.err
	case g.closed.Load():
		return errGenClosed
	case !g.opened:
		return errGenNotOpen
	case g.batchErr != nil:
		err := g.batchErr
		g.batchErr = nil
		return err
	}
	// unpaced, nothing else would ever block: honour cancellation here
	return ctx.Err()
}

// ReadBatch implements BatchReader. Unpaced, it decodes up to len(dst) records in one
// go; paced, it returns the next event alone when due, as Read.
func (g *Generator) ReadBatch(ctx context.Context, dst []Event) (int, error) {
	if len(dst) == 0 {
		return 0, nil
	}
	if g.cfg.Rate > 0 || g.hasPend {
		ev, err := g.Read(ctx)
		if err != nil {
			return 0, err
		}
		dst[0] = ev
		return 1, nil
	}
	if err := g.readable(ctx); err != nil {
		return 0, err
	}
	n := 0
	for n < len(dst) {
		err := g.decodeNext(ctx, &dst[n])
		if err != nil {
			dst[n] = Event{} // what the failed decode left
			if n == 0 {
				return 0, err
			}
			if err != io.EOF {
				g.batchErr = err // for the next call, after the events decoded before it
			}
			break
		}
		n++
	}
	return n, nil
}

// pace waits until the g.paced-th data event is due: the first at once, then one every
// 1/Rate seconds.
func (g *Generator) pace(ctx context.Context) error {
	now := time.Now()
	if g.paceStart.IsZero() {
		g.paceStart = now
	}
	due := g.paceStart.Add(time.Duration(float64(g.paced-1) * float64(time.Second) / g.cfg.Rate))
	d := due.Sub(now)
	if d <= 0 {
		return ctx.Err()
	}
	if g.timer == nil {
		g.timer = time.NewTimer(d)
	} else {
		g.timer.Reset(d)
	}
	select {
	case <-ctx.Done():
		g.timer.Stop()
		return ctx.Err()
	case <-g.timer.C:
		return nil
	}
}

// Ack implements Source: the generator has nothing to release, so it only records upTo,
// which Acked reports.
func (g *Generator) Ack(_ context.Context, upTo Position) error {
	g.mu.Lock()
	g.acked = Max(g.acked, upTo)
	g.mu.Unlock()
	return nil
}

// Acked returns the latest position passed to Ack since Open; a pipeline test uses it to
// check that acks follow commits.
func (g *Generator) Acked() Position {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.acked
}

// Close implements Source. Reads fail until the next Open.
func (g *Generator) Close() error {
	g.closed.Store(true)
	if g.timer != nil {
		g.timer.Stop()
	}
	return nil
}

var _ BatchReader = (*Generator)(nil)
