package ike

import "time"

// stamp is an instant as an offset from the engine's epoch (Engine.epoch,
// the clock's reading when the engine was made): 8 octets where a
// time.Time takes 24, for the instants every SA keeps (an SA's size is
// paid once per peer, issue 21). The epoch carries the clock's monotonic
// reading, so an interval between two stamps is what it was between the
// two times. The zero stamp is the zero time.
type stamp int64

// stampOf is t as a stamp.
func (e *Engine) stampOf(t time.Time) stamp {
	if t.IsZero() {
		return 0
	}
	s := stamp(t.Sub(e.stampEpoch()))
	if s >= 0 {
		s++ // 0 is the zero time
	}
	return s
}

// timeOf is the time a stamp stands for.
func (e *Engine) timeOf(s stamp) time.Time {
	switch {
	case s == 0:
		return time.Time{}
	case s > 0:
		s--
	}
	return e.stampEpoch().Add(time.Duration(s))
}

// stampEpoch is the engine's epoch; an Engine built without NewEngine
// (some tests) counts from 1970.
func (e *Engine) stampEpoch() time.Time {
	if e.epoch.IsZero() {
		return time.Unix(0, 0)
	}
	return e.epoch
}
