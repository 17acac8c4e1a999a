package systemd

import (
	"log/slog"
	"strings"
)

// Syslog priorities (syslog(3)), which journald stores as PRIORITY= and
// `journalctl -p` filters on.
const (
	PriErr     = 3
	PriWarning = 4
	PriInfo    = 6
	PriDebug   = 7
)

// Priority maps an slog level to a syslog priority: Error and above is
// err, Warn warning, Info info, and anything below Info debug. Levels
// between the named ones take the priority of the named level below them.
func Priority(l slog.Level) int {
	switch {
	case l >= slog.LevelError:
		return PriErr
	case l >= slog.LevelWarn:
		return PriWarning
	case l >= slog.LevelInfo:
		return PriInfo
	default:
		return PriDebug
	}
}

// reserved are the fields this package writes itself, or that journald
// gives a meaning; an attribute with one of these names is renamed, so a
// log key can never change an entry's priority or message.
var reserved = map[string]bool{
	"MESSAGE": true, "MESSAGE_ID": true, "PRIORITY": true, "SYSLOG_IDENTIFIER": true,
	"SYSLOG_FACILITY": true, "SYSLOG_PID": true, "SYSLOG_TIMESTAMP": true,
	"CODE_FILE": true, "CODE_LINE": true, "CODE_FUNC": true, "ERRNO": true,
	"INVOCATION_ID": true, "USER_INVOCATION_ID": true,
}

// maxFieldName is journald's limit on a field name's length.
const maxFieldName = 64

// FieldName turns an slog key (with its groups joined by '.') into a
// journal field name journald accepts: upper case letters, digits and
// '_', not starting with a digit or '_' (those are journald's own), at
// most 64 bytes. "peer" becomes PEER, "conn.name" CONN_NAME, "err" ERR.
// Names journald or this package reserve get an OEMESH_ prefix.
func FieldName(key string) string {
	var b strings.Builder
	for _, r := range key {
		switch {
		case r >= 'a' && r <= 'z':
			b.WriteRune(r - 'a' + 'A')
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	name := strings.TrimLeft(b.String(), "_")
	switch {
	case name == "":
		name = "FIELD"
	case name[0] >= '0' && name[0] <= '9', reserved[name]:
		name = "OEMESH_" + name
	}
	if len(name) > maxFieldName {
		name = name[:maxFieldName]
	}
	return name
}
