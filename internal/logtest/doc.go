// Package logtest is a log destination for tests and test beds whose
// subject writes from several goroutines (an engine's log, a VM's
// console): a Buffer any number of writers may share while the test reads
// what was written.
package logtest
