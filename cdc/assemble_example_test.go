package cdc_test

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/strata-data/strata/cdc"
)

// Two PostgreSQL transactions reach the assembler over two topics. Transaction 601
// started first (lower LSNs) but committed second, so its events come after 602's in
// each topic. Whole transactions come out in commit order.
func ExampleAssembler() {
	ctx := context.Background()
	asm := cdc.NewAssembler(cdc.AssemblerConfig{DeadLetters: cdc.NewMemoryDeadLetters()})
	ev := func(topic string, offset int64, table, xid string, commit, lsn uint64) cdc.Event {
		return cdc.Event{
			Table: table, Op: cdc.OpUpdate,
			Pos:    cdc.Position{Major: commit, Minor: lsn},
			Origin: cdc.Origin{Topic: topic, Offset: offset},
			Source: cdc.SourceInfo{Connector: "postgresql", TxID: xid, LSN: lsn},
		}
	}
	for _, e := range []cdc.Event{
		ev("orders", 0, "public.orders", "602", 0x300, 0x120),
		ev("customers", 0, "public.customers", "602", 0x300, 0x130),
		ev("orders", 1, "public.orders", "601", 0x400, 0x110),
		ev("orders", 2, "public.orders", "601", 0x400, 0x150),
		ev("customers", 1, "public.customers", "601", 0x400, 0x160),
	} {
		if err := asm.Add(ctx, &e); err != nil {
			panic(err)
		}
		for tx := range asm.Ready() {
			fmt.Printf("tx %s: %d events, commit %s\n", tx.ID, len(tx.Events), tx.Commit)
		}
	}
	fmt.Println("open:", asm.Open())
	// The source reports it is caught up: 601 is complete.
	if err := asm.Idle(ctx); err != nil {
		panic(err)
	}
	for tx := range asm.Ready() {
		fmt.Printf("tx %s: %d events, commit %s\n", tx.ID, len(tx.Events), tx.Commit)
	}
	// Output:
	// tx 602: 2 events, commit 300/130/0
	// open: 1
	// tx 601: 3 events, commit 400/160/0
}

// The loop around a Source: Add what Read returns, Idle on ErrIdle, Flush at io.EOF, ack
// the source with each transaction's Commit once it is applied, and Release it.
func ExampleAssembler_source() {
	ctx := context.Background()
	src := cdc.NewGenerator(cdc.GeneratorConfig{Seed: 1, Events: 500, TxMetadata: true})
	if err := src.Open(ctx, cdc.Position{}); err != nil {
		panic(err)
	}
	defer src.Close()
	dls := cdc.NewMemoryDeadLetters()
	asm := cdc.NewAssembler(cdc.AssemblerConfig{DeadLetters: dls})

	events, inOrder := 0, true
	var last cdc.Position
	apply := func() {
		for tx := range asm.Ready() {
			events += len(tx.Events)
			inOrder = inOrder && last.Less(tx.Commit)
			last = tx.Commit
			// ... apply tx durably, then release it at the source:
			if err := src.Ack(ctx, tx.Commit); err != nil {
				panic(err)
			}
			asm.Release(tx) // done with its events: their memory holds later ones
		}
	}
	for done := false; !done; {
		ev, err := src.Read(ctx)
		switch {
		case errors.Is(err, io.EOF):
			err, done = asm.Flush(ctx), true
		case errors.Is(err, cdc.ErrIdle):
			err = asm.Idle(ctx)
		case err == nil:
			err = asm.Add(ctx, &ev)
		}
		if err != nil {
			panic(err) // dead letters could not be written, or the source failed
		}
		apply()
	}
	fmt.Println("events:", events, "in commit order:", inOrder, "acked last:", src.Acked() == asm.LastCommit())
	fmt.Println("open:", asm.Open(), "dead letters:", dls.Len())
	// Output:
	// events: 500 in commit order: true acked last: true
	// open: 0 dead letters: 0
}

// A source that decodes ahead hands out runs of events; assembling a run after
// decoding it keeps each stage's code hot, and decoding it into the assembler's room
// spares a copy of each event.
func ExampleBatchReader() {
	ctx := context.Background()
	var src cdc.BatchReader = cdc.NewGenerator(cdc.GeneratorConfig{Seed: 1, Events: 500})
	if err := src.Open(ctx, cdc.Position{}); err != nil {
		panic(err)
	}
	defer src.Close()
	asm := cdc.NewAssembler(cdc.AssemblerConfig{})
	txs, events := 0, 0
	for done := false; !done; {
		room := asm.Reserve(cdc.DecodeAhead)
		n, err := src.ReadBatch(ctx, room)
		switch {
		case errors.Is(err, io.EOF):
			err, done = asm.Flush(ctx), true
		case err == nil:
			for i := range room[:n] {
				if err = asm.Add(ctx, &room[i]); err != nil {
					break
				}
			}
		}
		if err != nil {
			panic(err)
		}
		for tx := range asm.Ready() {
			txs++
			events += len(tx.Events)
			asm.Release(tx)
		}
	}
	fmt.Println("events:", events, "whole transactions:", txs > 0)
	// Output:
	// events: 500 whole transactions: true
}
