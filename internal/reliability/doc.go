// Package reliability is the hostile-network suite (`make test-reliability`,
// also part of `make test`): it drives real oemeshd processes in the
// namespace mesh of internal/lab and attacks them the way the network
// will. Each scenario logs its figure (run with -v to see it) and asserts
// a bound; docs/reliability.md lists the scenarios, the figures of a run
// and what is not covered yet.
//
// The tests need root (network namespaces) and skip without it. They
// never send a packet outside the namespaces they make. The package holds
// only tests: nothing may import it.
package reliability
