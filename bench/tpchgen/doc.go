// Package tpchgen generates TPC-H-shaped data deterministically and writes it as
// Parquet, one file per table.
//
// It follows the rules of the TPC-H specification's dbgen (clause 4.2.3): the eight
// tables and their cardinalities per scale factor, sparse order keys, the four
// suppliers of each part, customers whose key is a multiple of three placing no orders,
// prices from the retail-price formula, order dates 1992-01-01 to 1998-08-02, ship,
// commit and receipt dates derived from them, return flags and line statuses against
// the current date 1995-06-17, and the same word lists for names, types, containers,
// segments, priorities and ship modes. Comments are substrings of a text pool built
// from dbgen's grammar and words, but not dbgen's exact text, and the random streams
// differ from dbgen's: answers are TPC-H-like, not the reference answers.
//
// Output is a function of (scale factor, seed) alone: every chunk of rows draws from
// its own random stream, so the number of workers changes the speed, never the data.
// Money columns are decimal(15,2) (stored as Parquet INT64 decimals), dates date32,
// keys int64, small integers int32, text UTF-8 strings; every column is NOT NULL.
package tpchgen
