package ike

import (
	"bytes"
	"fmt"
	"log/slog"
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
