package systemd

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
)

// PrefixHandler writes records as slog text lines on w, each starting with
// "<N>", its syslog priority, and without time or level: the form journald
// reads from a service's stderr (SyslogLevelPrefix=, on by default). It is
// what oemeshd logs with when stderr is the journal but the native socket
// cannot take an entry.
type PrefixHandler struct {
	text slog.Handler // formats into out.buf
	out  *prefixOut
}

// prefixOut is shared by a handler and those WithAttrs and WithGroup derive
// from it: the text handlers all write into buf, under mu.
type prefixOut struct {
	mu  sync.Mutex
	buf bytes.Buffer
	w   io.Writer
}

// NewPrefixHandler returns a PrefixHandler writing to w. opts.Level and
// opts.ReplaceAttr are honoured; the time and level attributes are dropped.
func NewPrefixHandler(w io.Writer, opts *slog.HandlerOptions) *PrefixHandler {
	out := &prefixOut{w: w}
	return &PrefixHandler{text: slog.NewTextHandler(&out.buf, bare(opts)), out: out}
}

// bare is opts with the time, level and message left out of the text:
// journald stamps the entry itself, the priority carries the level, and
// the message leads the line unquoted (line writes it).
func bare(opts *slog.HandlerOptions) *slog.HandlerOptions {
	o := slog.HandlerOptions{}
	if opts != nil {
		o = *opts
	}
	user := o.ReplaceAttr
	o.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey || a.Key == slog.MessageKey) {
			return slog.Attr{}
		}
		if user != nil {
			return user(groups, a)
		}
		return a
	}
	return &o
}

// Enabled reports whether l is logged.
func (h *PrefixHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.text.Enabled(ctx, l)
}

// Handle writes r as one "<N>msg=... key=value" line.
func (h *PrefixHandler) Handle(ctx context.Context, r slog.Record) error {
	h.out.mu.Lock()
	defer h.out.mu.Unlock()
	h.out.buf.Reset()
	if err := h.text.Handle(ctx, r); err != nil {
		return err
	}
	msg := r.Message
	if strings.Contains(msg, "\n") {
		msg = strconv.Quote(msg) // one record, one line
	}
	_, err := io.WriteString(h.out.w, "<"+strconv.Itoa(Priority(r.Level))+">"+line(msg, h.out.buf.String())+"\n")
	return err
}

// line is the message followed by the attributes' text, as journalctl
// shows an entry: "negotiation failed peer=192.0.2.1 err=...".
func line(msg, attrs string) string {
	attrs = strings.TrimSuffix(attrs, "\n")
	if attrs == "" {
		return msg
	}
	return msg + " " + attrs
}

// WithAttrs returns a handler that adds attrs to every record.
func (h *PrefixHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &PrefixHandler{text: h.text.WithAttrs(attrs), out: h.out}
}

// WithGroup returns a handler that puts later attributes in group name.
func (h *PrefixHandler) WithGroup(name string) slog.Handler {
	return &PrefixHandler{text: h.text.WithGroup(name), out: h.out}
}
