package cdc

import (
	"errors"

	"github.com/strata-data/strata/change"
)

// reason maps an error to the metric label of its sentinel.
func reason(err error) string {
	for _, r := range []struct {
		err   error
		label string
	}{
		{ErrMalformed, "malformed"},
		{ErrUnknownOp, "unknown_op"},
		{ErrType, "type"},
		{ErrTxCount, "tx_count"},
		{ErrTxBegin, "tx_begin"},
		{ErrTxTimeout, "tx_timeout"},
		{change.ErrIncompatible, "schema"},
	} {
		if errors.Is(err, r.err) {
			return r.label
		}
	}
	return "other"
}
