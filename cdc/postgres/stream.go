package postgres

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/jackc/pglogrepl"
)

// Protocol 2 streaming (Config.Streaming): the server sends a large transaction in
// progress as segments framed by Stream Start and Stream Stop, each change carrying
// the (sub)transaction's xid, then a Stream Commit or Stream Abort. The segments go to
// the transaction's spool; at Stream Commit they are replayed through handle as the
// body of a protocol 1 transaction (its RELATION messages too: pgoutput sends a
// streamed transaction the schemas it uses, and counts them sent once it commits), so
// the transaction is emitted in commit order with the positions protocol 1 gives it.

// streamed handles a message inside a stream segment.
func (r *reader) streamed(data []byte, lsn uint64) error {
	switch data[0] {
	case 'E': // Stream Stop
		r.inStream, r.streamSp = false, nil
		return nil
	case 'R', 'I', 'U', 'D', 'T':
		if len(data) < 5 {
			return fmt.Errorf("%w: short streamed %c message at %s", ErrDecode, data[0], pglogrepl.LSN(lsn))
		}
		return r.spools.add(r.streamSp, binary.BigEndian.Uint32(data[1:]), lsn, data[0], data[5:])
	}
	// Origin ('O'), type ('Y') and logical messages carry nothing to emit.
	return nil
}

// streamControl handles Stream Start, Stream Commit and Stream Abort.
func (r *reader) streamControl(ctx context.Context, data []byte) error {
	m, err := pglogrepl.ParseV2(data, false)
	if err != nil {
		return fmt.Errorf("postgres: stream message %c: %w", data[0], err)
	}
	switch m := m.(type) {
	case *pglogrepl.StreamStartMessageV2:
		r.inStream = true
		r.streamSp = r.spools.start(m.Xid, m.FirstSegment == 1)
		r.src.cfg.Metrics.segment()
	case *pglogrepl.StreamCommitMessageV2:
		sp := r.spools.byXid[m.Xid]
		r.begin(m.Xid, m.CommitLSN, m.CommitTime)
		if sp == nil {
			if r.skipTx {
				r.inTx = false
				return nil
			}
			return &fatalError{fmt.Errorf("postgres: Stream Commit of transaction %d at %s without its stream", m.Xid, m.CommitLSN)}
		}
		defer r.spools.release(sp)
		err := r.spools.replay(sp, func(lsn uint64, msg []byte) error {
			return r.handle(ctx, pglogrepl.XLogData{WALStart: pglogrepl.LSN(lsn), WALData: msg})
		})
		if err != nil {
			r.inTx, r.events = false, nil
			return err
		}
		return r.commit(ctx, m.CommitTime, m.TransactionEndLSN)
	case *pglogrepl.StreamAbortMessageV2:
		sp := r.spools.byXid[m.Xid]
		if sp == nil {
			return nil
		}
		if m.SubXid == m.Xid {
			r.spools.release(sp)
			return nil
		}
		return r.spools.abortSub(sp, m.SubXid)
	}
	return nil
}

// dropStreams forgets the streamed transactions in progress.
func (r *reader) dropStreams() {
	r.inStream, r.streamSp = false, nil
	if r.spools != nil {
		r.spools.reset()
	}
}
