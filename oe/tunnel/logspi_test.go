package tunnel

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// TestHexSPI checks that an SPI logs as fmt's %08x wrote it, in text and
// in JSON, so that the log lines read as before.
func TestHexSPI(t *testing.T) {
	for _, spi := range []uint32{0, 1, 0xab, 0xc0ffee, 0x80000000, 0xdeadbeef, 0xffffffff} {
		want := fmt.Sprintf("%08x", spi)
		if got := HexSPI(spi).LogValue().String(); got != want {
			t.Errorf("%#x: %q, want %q", spi, got, want)
		}
		var text, js bytes.Buffer
		slog.New(slog.NewTextHandler(&text, nil)).Info("tunnel up", "spi_in", HexSPI(spi))
		slog.New(slog.NewJSONHandler(&js, nil)).Info("tunnel up", "spi_in", HexSPI(spi))
		if !strings.Contains(text.String(), " spi_in="+want+"\n") {
			t.Errorf("%#x: text line %q, want spi_in=%s", spi, text.String(), want)
		}
		if !strings.Contains(js.String(), `"spi_in":"`+want+`"`) {
			t.Errorf("%#x: JSON line %q, want \"spi_in\":\"%s\"", spi, js.String(), want)
		}
	}
}

// dropInfo is a handler that wants only warnings, as a daemon run with
// log level warn has.
type dropInfo struct{ slog.Handler }

func (dropInfo) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

// TestHexSPINotFormattedWhenDropped checks that an SPI costs no
// formatting on a line the handler drops: fewer allocations than the
// fmt.Sprintf it replaces, whose string was made before slog asked.
func TestHexSPINotFormattedWhenDropped(t *testing.T) {
	log := slog.New(dropInfo{slog.NewTextHandler(&bytes.Buffer{}, nil)})
	spi := uint32(0xdeadbeef)
	lazy := testing.AllocsPerRun(100, func() { log.Info("tunnel up", "spi_in", HexSPI(spi)) })
	eager := testing.AllocsPerRun(100, func() { log.Info("tunnel up", "spi_in", fmt.Sprintf("%08x", spi)) })
	if lazy >= eager {
		t.Errorf("dropped line: %v allocations with HexSPI, %v with fmt.Sprintf: want fewer", lazy, eager)
	}
}
