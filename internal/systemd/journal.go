package systemd

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// JournalSocket is where journald takes native-protocol entries.
const JournalSocket = "/run/systemd/journal/socket"

// IsJournalStream says whether f (stderr) is the stream journald gave this
// service: systemd sets JOURNAL_STREAM to the "device:inode" of that stream,
// and a child whose stderr was redirected elsewhere inherits the variable
// but not the stream, so both must match.
func IsJournalStream(getenv func(string) string, f *os.File) bool {
	dev, ino, ok := strings.Cut(getenv("JOURNAL_STREAM"), ":")
	if !ok {
		return false
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return false
	}
	return dev == strconv.FormatUint(st.Dev, 10) && ino == strconv.FormatUint(st.Ino, 10)
}

// JournalHandler sends each record to journald as one native-protocol
// entry: MESSAGE (the message and its attributes as slog text, so that
// `journalctl` shows them), PRIORITY (Priority), SYSLOG_IDENTIFIER, and one
// field per attribute, named by FieldName, so that `journalctl PEER=192.0.2.1`
// finds the entries about that peer. An entry the socket refuses (too big
// for a datagram, journald gone) is written to the fallback writer in the
// "<N>" form instead, and is not lost.
type JournalHandler struct {
	text   slog.Handler // the MESSAGE text, into out.buf
	fields []field      // from WithAttrs
	prefix string       // the open groups, "A_B_"
	out    *journalOut
}

type field struct{ name, value string }

// journalOut is shared by a handler and the handlers derived from it.
type journalOut struct {
	mu       sync.Mutex
	buf      bytes.Buffer // the text handlers write MESSAGE here
	entry    bytes.Buffer
	addr     *net.UnixAddr
	conn     *net.UnixConn
	ident    string
	fallback io.Writer
}

// NewJournalHandler returns a handler that sends to the journald socket at
// path (JournalSocket in the daemon), naming entries ident
// (SYSLOG_IDENTIFIER), and writes to fallback what the socket refuses.
// opts.Level and opts.ReplaceAttr are honoured.
func NewJournalHandler(path, ident string, fallback io.Writer, opts *slog.HandlerOptions) (*JournalHandler, error) {
	addr := &net.UnixAddr{Name: path, Net: "unixgram"}
	c, err := net.DialUnix("unixgram", nil, addr)
	if err != nil {
		return nil, fmt.Errorf("journald: connecting to %s: %w", path, err)
	}
	out := &journalOut{addr: addr, conn: c, ident: ident, fallback: fallback}
	return &JournalHandler{text: slog.NewTextHandler(&out.buf, bare(opts)), out: out}, nil
}

// Close closes the socket.
func (h *JournalHandler) Close() error { return h.out.conn.Close() }

// Enabled reports whether l is logged.
func (h *JournalHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.text.Enabled(ctx, l)
}

// Handle sends r as one journal entry.
func (h *JournalHandler) Handle(ctx context.Context, r slog.Record) error {
	o := h.out
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf.Reset()
	if err := h.text.Handle(ctx, r); err != nil {
		return err
	}
	pri := strconv.Itoa(Priority(r.Level))
	o.entry.Reset()
	text := line(r.Message, o.buf.String())
	appendField(&o.entry, "MESSAGE", text)
	appendField(&o.entry, "PRIORITY", pri)
	appendField(&o.entry, "SYSLOG_IDENTIFIER", o.ident)
	for _, f := range h.fields {
		appendField(&o.entry, f.name, f.value)
	}
	r.Attrs(func(a slog.Attr) bool {
		flatten(h.prefix, a, func(f field) { appendField(&o.entry, f.name, f.value) })
		return true
	})
	if err := o.send(); err != nil {
		if strings.Contains(r.Message, "\n") {
			text = line(strconv.Quote(r.Message), o.buf.String())
		}
		_, ferr := io.WriteString(o.fallback, "<"+pri+">"+text+"\n")
		return ferr
	}
	return nil
}

// send writes the entry, once more on a fresh socket if journald was
// restarted since the last one.
func (o *journalOut) send() error {
	_, err := o.conn.Write(o.entry.Bytes())
	if err == nil {
		return nil
	}
	c, derr := net.DialUnix("unixgram", nil, o.addr)
	if derr != nil {
		return err
	}
	o.conn.Close()
	o.conn = c
	_, err = o.conn.Write(o.entry.Bytes())
	return err
}

// WithAttrs returns a handler that adds attrs to every entry.
func (h *JournalHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	n := &JournalHandler{text: h.text.WithAttrs(attrs), prefix: h.prefix, out: h.out}
	n.fields = append([]field(nil), h.fields...)
	for _, a := range attrs {
		flatten(h.prefix, a, func(f field) { n.fields = append(n.fields, f) })
	}
	return n
}

// WithGroup returns a handler that puts later attributes in group name:
// their fields are named GROUP_KEY.
func (h *JournalHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &JournalHandler{text: h.text.WithGroup(name), fields: h.fields, prefix: h.prefix + name + ".", out: h.out}
}

// flatten calls emit for each field a makes: one, or one per member of a
// group, named by the key path.
func flatten(prefix string, a slog.Attr, emit func(field)) {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, m := range v.Group() {
			flatten(p, m, emit)
		}
		return
	}
	if a.Key == "" {
		return
	}
	emit(field{FieldName(prefix + a.Key), v.String()})
}

// appendField writes one field in the native protocol: NAME=value, or, for
// a value with a newline, NAME, a newline, its length (64-bit little
// endian) and the value.
func appendField(b *bytes.Buffer, name, value string) {
	if !strings.Contains(value, "\n") {
		b.WriteString(name + "=" + value + "\n")
		return
	}
	b.WriteString(name + "\n")
	_ = binary.Write(b, binary.LittleEndian, uint64(len(value)))
	b.WriteString(value + "\n")
}
