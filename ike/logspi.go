package ike

import (
	"encoding/hex"
	"fmt"
	"log/slog"
)

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
