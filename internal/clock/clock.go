// Package clock is oemesh's one vocabulary for time: the Clock interface
// that every package with timers or expiry takes in its Config (ike's
// retransmissions and rekeys, dnskey's cache, oe's shunts and gates, the
// userspace data plane's lifetimes, the daemon's uptime), and System, the
// real clock. Tests substitute clocktest.Fake and never sleep.
//
// It is a leaf: it imports nothing of oemesh, so every package may use it.
package clock

import "time"

// Clock is a source of time and timers.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine (or, for a fake clock, in
	// the goroutine that advances time) once d has elapsed.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc call.
type Timer interface {
	// Stop prevents the call if it has not run yet and reports whether it
	// did so.
	Stop() bool
}

// System is the real clock. Its zero value is ready to use.
type System struct{}

// Now returns time.Now().
func (System) Now() time.Time { return time.Now() }

// AfterFunc wraps time.AfterFunc.
func (System) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }
