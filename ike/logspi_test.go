package ike

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
)

// TestHexSPILogValue checks that an SPI logs as the hex that fmt's %x
// gives, which the log lines carried before hexSPI.
func TestHexSPILogValue(t *testing.T) {
	spi := SPI{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "spi_i", hexSPI(spi))
	if want := "spi_i=" + fmt.Sprintf("%x", spi[:]); !strings.Contains(buf.String(), want+"\n") {
		t.Errorf("log line %q, want it to end with %q", buf.String(), want)
	}
}

// TestDebugLinesFreeWhenOff checks that the debug lines of every
// handshake (the IKE and CHILD SA state changes) allocate nothing while
// debug logging is off, and are still written when it is on.
func TestDebugLinesFreeWhenOff(t *testing.T) {
	var buf bytes.Buffer
	level := new(slog.LevelVar) // info
	e := &Engine{log: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: level}))}
	sa := &ikeSA{e: e, state: stHalfOpen, remote: netip.MustParseAddrPort("192.0.2.1:500")}
	c := &childSA{state: childLarval}
	c.SPIIn, c.SPIOut = 0x01020304, 0x05060708
	cycle := func() {
		sa.setState(stEstablished)
		sa.setChildState(c, childInstalled)
		sa.setChildState(c, childDeleting)
		sa.setState(stDeleting)
		sa.state, c.state = stHalfOpen, childLarval
	}
	if n := testing.AllocsPerRun(100, cycle); n != 0 {
		t.Errorf("state changes with debug off: %v allocations, want 0", n)
	}
	if buf.Len() != 0 {
		t.Errorf("debug off, yet logged %q", buf.String())
	}
	level.Set(slog.LevelDebug)
	cycle()
	for _, want := range []string{"IKE SA state", "to=ESTABLISHED", "CHILD SA state", "spi_in=01020304", "to=DELETING"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("debug on: log %q lacks %q", buf.String(), want)
		}
	}
}
