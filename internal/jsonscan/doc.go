// Package jsonscan is a small, allocation-free JSON tokenizer for schema-driven decoders:
// the caller walks objects key by key and reads each value as the type it expects,
// skipping what it does not need. Numbers stay raw text, so integers above 2^53 never
// pass through float64. Duplicate keys are reported as they come; callers that assign
// per key get last-wins semantics for free.
package jsonscan
