package clock

import (
	"testing"
	"time"
)

func TestSystem(t *testing.T) {
	var c Clock = System{}
	if d := time.Since(c.Now()); d < 0 || d > time.Minute {
		t.Fatalf("System.Now is %v off", d)
	}
	ran := make(chan struct{})
	c.AfterFunc(time.Millisecond, func() { close(ran) })
	select {
	case <-ran:
	case <-time.After(10 * time.Second):
		t.Fatal("AfterFunc did not run")
	}
	if c.AfterFunc(time.Hour, func() {}).Stop() != true {
		t.Fatal("Stop of a pending timer reported false")
	}
}
