package ike

import (
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
)

// debugOn reports whether the engine's logger writes debug lines. The
// handshake path asks before a debug line: slog boxes every argument, and
// allocates the slice that holds them, before its handler can drop the
// line, which made the state changes, the SA-established and the
// SA-removed lines a sizeable share of a handshake's allocations with
// debug logging off.
func (e *Engine) debugOn() bool { return e.log.Enabled(context.Background(), slog.LevelDebug) }

// hexSPI is an SPI as a log attribute value: hex, as fmt's %x writes it.
// The hex is made only when a handler writes the record, so a debug line
// on the handshake path costs nothing while debug logging is off; a
// fmt.Sprintf argument would be formatted before slog could drop the line.
type hexSPI SPI

// LogValue implements slog.LogValuer.
func (s hexSPI) LogValue() slog.Value { return slog.StringValue(hex.EncodeToString(s[:])) }

// hexESPSPI is a CHILD SA's SPI as a log attribute value: 8 hex digits, as
// fmt's %08x writes it, made only when a handler writes the record.
type hexESPSPI uint32

// LogValue implements slog.LogValuer.
func (s hexESPSPI) LogValue() slog.Value { return slog.StringValue(fmt.Sprintf("%08x", uint32(s))) }
