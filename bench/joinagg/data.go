package main

import (
	"fmt"
	"math/rand/v2"
)

var statuses = []string{"new", "paid", "shipped", "cancelled"}

var regions = func() []string {
	out := make([]string, 20)
	for i := range out {
		out[i] = fmt.Sprintf("region-%02d", i)
	}
	return out
}()

// data is the generated workload: a fact table of factRows rows (id, customer_id in
// [0, dimRows), amount, status) and a dimension of dimRows rows (id, region), as
// plain columns both engines load from.
type data struct {
	factID, factCustomer []int64
	factAmount           []float64
	factStatus           []uint8 // index into statuses
	dimID                []int64
	dimRegion            []uint8 // index into regions
}

func generate(factRows, dimRows int, seed uint64) *data {
	r := rand.New(rand.NewPCG(seed, 1))
	d := &data{
		factID: make([]int64, factRows), factCustomer: make([]int64, factRows),
		factAmount: make([]float64, factRows), factStatus: make([]uint8, factRows),
		dimID: make([]int64, dimRows), dimRegion: make([]uint8, dimRows),
	}
	for i := range factRows {
		d.factID[i] = int64(i)
		d.factCustomer[i] = r.Int64N(int64(dimRows))
		d.factAmount[i] = float64(r.IntN(100_000)) / 100
		d.factStatus[i] = uint8(r.IntN(len(statuses)))
	}
	for i := range dimRows {
		d.dimID[i] = int64(i)
		d.dimRegion[i] = uint8(r.IntN(len(regions)))
	}
	r.Shuffle(dimRows, func(i, j int) { d.dimID[i], d.dimID[j] = d.dimID[j], d.dimID[i] })
	return d
}

// reference computes the answer directly, to check both engines.
func (d *data) reference() map[string]float64 {
	regionOf := make([]uint8, len(d.dimID))
	for i, id := range d.dimID {
		regionOf[id] = d.dimRegion[i]
	}
	sums := make([]float64, len(regions))
	for i := range d.factID {
		if statuses[d.factStatus[i]] == "paid" {
			sums[regionOf[d.factCustomer[i]]] += d.factAmount[i]
		}
	}
	out := map[string]float64{}
	for i, s := range sums {
		out[regions[i]] = s
	}
	return out
}
