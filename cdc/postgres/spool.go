package postgres

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"
)

// spoolHeader is the size of a spool record's header: the message's length (uint32)
// and its WAL position (uint64).
const spoolHeader = 12

// spillChunk is how many bytes a spool that already has a file gathers in memory
// before writing them out: one write per chunk, not per message.
const spillChunk = 1 << 20

// spools holds the streamed changes of the transactions in progress (protocol 2):
// pgoutput messages kept until the transaction's Stream Commit or Stream Abort. Their
// bytes in memory are bounded by limit across all transactions; beyond it a spool
// writes its records to a file of its own, which is read back at commit. Only the
// reader goroutine uses it.
type spools struct {
	dir     string
	limit   int64
	inMem   int64 // bytes in all spools' mem
	metrics *Metrics
	byXid   map[uint32]*spool
}

// spool is one streamed transaction: a sequence of records (header, then the message
// without its in-stream xid), the first fsize bytes in file and the rest in mem.
type spool struct {
	xid   uint32
	file  *os.File
	fsize int64
	mem   []byte
	// subs is each subtransaction's first record, in stream order (so by offset), and
	// subIdx its index there: an aborted subtransaction's changes, and those of any
	// subtransaction begun after its first change (its children), are cut off there.
	subs   []subStart
	subIdx map[uint32]int
}

type subStart struct {
	xid uint32
	off int64
}

func newSpools(dir string, limit int64, m *Metrics) *spools {
	return &spools{dir: dir, limit: limit, metrics: m, byXid: map[uint32]*spool{}}
}

// start returns the spool of top-level transaction xid, created on its first stream
// segment (a first segment of a transaction already held starts it over).
func (ss *spools) start(xid uint32, first bool) *spool {
	sp := ss.byXid[xid]
	if sp != nil && first {
		ss.release(sp)
		sp = nil
	}
	if sp == nil {
		sp = &spool{xid: xid}
		ss.byXid[xid] = sp
	}
	return sp
}

func (sp *spool) size() int64 { return sp.fsize + int64(len(sp.mem)) }

// add appends a message of (sub)transaction xid at WAL position lsn: its type byte
// and body (copied).
func (ss *spools) add(sp *spool, xid uint32, lsn uint64, kind byte, body []byte) error {
	if xid != sp.xid {
		if _, ok := sp.subIdx[xid]; !ok {
			if sp.subIdx == nil {
				sp.subIdx = map[uint32]int{}
			}
			sp.subIdx[xid] = len(sp.subs)
			sp.subs = append(sp.subs, subStart{xid: xid, off: sp.size()})
		}
	}
	var h [spoolHeader]byte
	binary.LittleEndian.PutUint32(h[:], uint32(1+len(body)))
	binary.LittleEndian.PutUint64(h[4:], lsn)
	sp.mem = append(append(append(sp.mem, h[:]...), kind), body...)
	ss.inMem += int64(spoolHeader + 1 + len(body))
	if sp.file != nil && len(sp.mem) >= spillChunk || ss.inMem > ss.limit {
		if err := ss.spill(sp); err != nil {
			return err
		}
	}
	if ss.inMem > ss.limit {
		for _, o := range ss.byXid {
			if err := ss.spill(o); err != nil {
				return err
			}
		}
	}
	return nil
}

// spill writes sp's records held in memory to its file.
func (ss *spools) spill(sp *spool) error {
	if len(sp.mem) == 0 {
		return nil
	}
	if sp.file == nil {
		f, err := os.CreateTemp(ss.dir, "strata-pgstream-*.spool")
		if err != nil {
			return fmt.Errorf("postgres: spool of streamed transaction %d: %w", sp.xid, err)
		}
		sp.file = f
	}
	if _, err := sp.file.WriteAt(sp.mem, sp.fsize); err != nil {
		return fmt.Errorf("postgres: spool of streamed transaction %d: %w", sp.xid, err)
	}
	sp.fsize += int64(len(sp.mem))
	ss.metrics.spooled(len(sp.mem))
	ss.inMem -= int64(len(sp.mem))
	if cap(sp.mem) > 2*spillChunk {
		sp.mem = nil
	} else {
		sp.mem = sp.mem[:0]
	}
	return nil
}

// abortSub discards the changes of subtransaction subxid (rolled back to a savepoint)
// and of those begun after its first change. A subtransaction without changes held
// leaves the spool as it is.
func (ss *spools) abortSub(sp *spool, subxid uint32) error {
	i, ok := sp.subIdx[subxid]
	if !ok {
		return nil
	}
	off := sp.subs[i].off
	for _, s := range sp.subs[i:] {
		delete(sp.subIdx, s.xid)
	}
	sp.subs = sp.subs[:i]
	if off >= sp.fsize {
		n := off - sp.fsize
		ss.inMem -= int64(len(sp.mem)) - n
		sp.mem = sp.mem[:n]
		return nil
	}
	ss.inMem -= int64(len(sp.mem))
	sp.mem = sp.mem[:0]
	if err := sp.file.Truncate(off); err != nil {
		return fmt.Errorf("postgres: spool of streamed transaction %d: %w", sp.xid, err)
	}
	sp.fsize = off
	return nil
}

// replay calls fn with each record in order; msg is valid during the call only.
func (ss *spools) replay(sp *spool, fn func(lsn uint64, msg []byte) error) error {
	if sp.fsize > 0 {
		br := bufio.NewReaderSize(io.NewSectionReader(sp.file, 0, sp.fsize), spillChunk)
		var h [spoolHeader]byte
		var buf []byte
		for {
			if _, err := io.ReadFull(br, h[:]); err == io.EOF {
				break
			} else if err != nil {
				return fmt.Errorf("postgres: read spool of streamed transaction %d: %w", sp.xid, err)
			}
			n := int(binary.LittleEndian.Uint32(h[:]))
			if cap(buf) < n {
				buf = make([]byte, n)
			}
			buf = buf[:n]
			if _, err := io.ReadFull(br, buf); err != nil {
				return fmt.Errorf("postgres: read spool of streamed transaction %d: %w", sp.xid, err)
			}
			if err := fn(binary.LittleEndian.Uint64(h[4:]), buf); err != nil {
				return err
			}
		}
	}
	for p := sp.mem; len(p) > 0; {
		n := int(binary.LittleEndian.Uint32(p))
		if err := fn(binary.LittleEndian.Uint64(p[4:]), p[spoolHeader:spoolHeader+n]); err != nil {
			return err
		}
		p = p[spoolHeader+n:]
	}
	return nil
}

// release drops sp and its file.
func (ss *spools) release(sp *spool) {
	ss.inMem -= int64(len(sp.mem))
	sp.mem = nil
	if sp.file != nil {
		name := sp.file.Name()
		sp.file.Close()
		os.Remove(name)
		sp.file = nil
	}
	delete(ss.byXid, sp.xid)
}

// reset drops every spool: the connection was lost, and the server streams the
// transactions still in progress again from their start.
func (ss *spools) reset() {
	for _, sp := range ss.byXid {
		ss.release(sp)
	}
}
