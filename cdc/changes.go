package cdc

import (
	"fmt"

	"github.com/strata-data/strata/change"
)

// AppendChanges appends the changelog rows of a row event to b, whose schema must be
// ev.Schema: create and read give +I(after); update gives -U(before) then +U(after), or
// just +U when there is no before-image; delete gives -D(before), or -D of the key
// columns when only the key is known. Columns absent from a partial image are NULL in
// the batch. Events that are not row changes, and truncates, append nothing.
func AppendChanges(b *change.Builder, ev *Event) error {
	if ev.Schema == nil || !ev.Op.IsRowChange() {
		return nil
	}
	if b.Schema() != ev.Schema && !b.Schema().Equal(ev.Schema) {
		return fmt.Errorf("cdc: %s event of schema version %d appended to a batch of another schema", ev.Table, ev.SchemaVersion)
	}
	var err error
	switch ev.Op {
	case OpCreate, OpRead:
		err = b.Append(change.Insert, ev.After)
	case OpUpdate:
		if ev.Before != nil {
			if err = b.Append(change.UpdateBefore, ev.Before); err != nil {
				break
			}
		}
		err = b.Append(change.UpdateAfter, ev.After)
	case OpDelete:
		img := ev.Before
		if img == nil {
			img = keyImage(ev)
		}
		err = b.Append(change.Delete, img)
	}
	if err != nil {
		return fmt.Errorf("cdc: %s at %s: %w", ev.Table, ev.Pos, err)
	}
	return nil
}

// keyImage spreads the event key over the row's columns, the rest absent.
func keyImage(ev *Event) change.Row {
	row := make(change.Row, ev.Schema.NumFields())
	for i := range row {
		row[i] = change.Absent()
	}
	if ev.KeySchema != nil {
		for i, f := range ev.KeySchema.Fields() {
			if j := ev.Schema.FieldIndex(f.Name); j >= 0 && i < len(ev.Key) {
				row[j] = ev.Key[i]
			}
		}
	}
	return row
}
