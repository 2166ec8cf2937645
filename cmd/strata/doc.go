// Command strata exposes the strata library to people who do not write Go, and gives
// every pipeline stage a black-box test surface:
//
//	strata <verb> [flags] [args]
//
// Each verb prints its own --help. Errors go to stderr and make the exit status 1.
package main
