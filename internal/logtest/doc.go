// Package logtest is a log destination for tests whose code under test
// logs from several goroutines: a Buffer any number of writers may share
// while the test reads what was written.
package logtest
