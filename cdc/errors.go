package cdc

import (
	"errors"
	"fmt"
)

// Sentinel errors, matched with errors.Is through *DecodeError and *AssemblyError.
var (
	// ErrMalformed: the record is not valid JSON, or not a Debezium shape.
	ErrMalformed = errors.New("cdc: malformed event")
	// ErrUnknownOp: the op is not one of c, u, d, r, t, m.
	ErrUnknownOp = errors.New("cdc: unknown op")
	// ErrType: a value does not fit its declared type.
	ErrType = errors.New("cdc: value does not fit its type")
	// ErrTxCount: a transaction END's counts do not match the events received.
	ErrTxCount = errors.New("cdc: transaction event count mismatch")
	// ErrTxBegin: an END or an in-transaction event arrived for a transaction without BEGIN.
	ErrTxBegin = errors.New("cdc: transaction without BEGIN")
	// ErrNotEvent: the record is a Debezium event key (or other non-event JSON), not a change event.
	ErrNotEvent = errors.New("cdc: not a change event")
	// ErrTxTimeout: a transaction did not complete within the assembler's bounds.
	ErrTxTimeout = errors.New("cdc: transaction incomplete")
)

// DecodeError says which record and which field could not be decoded.
type DecodeError struct {
	Origin Origin
	Field  string // JSON path of the offending field, e.g. "payload.after.amount"; "" for the whole record
	Err    error  // wraps one of the sentinels
}

func (e *DecodeError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("cdc: decode %s: %v", e.Origin, e.Err)
	}
	return fmt.Sprintf("cdc: decode %s: field %s: %v", e.Origin, e.Field, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }
