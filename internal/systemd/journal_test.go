package systemd

import (
	"bytes"
	"encoding/binary"
	"log/slog"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestPriority(t *testing.T) {
	for _, tc := range []struct {
		l    slog.Level
		want int
	}{
		{slog.LevelDebug - 4, PriDebug},
		{slog.LevelDebug, PriDebug},
		{slog.LevelInfo - 1, PriDebug},
		{slog.LevelInfo, PriInfo},
		{slog.LevelInfo + 2, PriInfo},
		{slog.LevelWarn, PriWarning},
		{slog.LevelError - 1, PriWarning},
		{slog.LevelError, PriErr},
		{slog.LevelError + 4, PriErr},
	} {
		if got := Priority(tc.l); got != tc.want {
			t.Errorf("Priority(%v) = %d, want %d", tc.l, got, tc.want)
		}
	}
}

// validField is journald's rule for a field a client may set.
var validField = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,63}$`)

func TestFieldName(t *testing.T) {
	for key, want := range map[string]string{
		"peer":                  "PEER",
		"spi":                   "SPI",
		"group":                 "GROUP",
		"conn.name":             "CONN_NAME",
		"peer-id":               "PEER_ID",
		"_private":              "PRIVATE",
		"2nd":                   "OEMESH_2ND",
		"message":               "OEMESH_MESSAGE",
		"priority":              "OEMESH_PRIORITY",
		"é":                     "FIELD",
		"":                      "FIELD",
		strings.Repeat("a", 70): strings.Repeat("A", 64),
	} {
		got := FieldName(key)
		if got != want {
			t.Errorf("FieldName(%q) = %q, want %q", key, got, want)
		}
		if !validField.MatchString(got) {
			t.Errorf("FieldName(%q) = %q is not a valid journal field name", key, got)
		}
	}
}

// parseEntry reads a native-protocol datagram back into its fields.
func parseEntry(t *testing.T, b []byte) map[string]string {
	t.Helper()
	m := map[string]string{}
	for len(b) > 0 {
		nl := bytes.IndexByte(b, '\n')
		if nl < 0 {
			t.Fatalf("entry ends without a newline: %q", b)
		}
		line := string(b[:nl])
		b = b[nl+1:]
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = v
			continue
		}
		n := binary.LittleEndian.Uint64(b[:8])
		m[line] = string(b[8 : 8+n])
		if b[8+n] != '\n' {
			t.Fatalf("binary field %s does not end with a newline", line)
		}
		b = b[9+n:]
	}
	return m
}

func TestJournalHandler(t *testing.T) {
	c, path := listen(t, "journal")
	var fallback bytes.Buffer
	h, err := NewJournalHandler(path, "oemeshd", &fallback, &slog.HandlerOptions{Level: slog.LevelInfo})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	log := slog.New(h).With("group", "private-or-clear")

	log.Error("negotiation failed", "peer", "192.0.2.1", "spi", "0x1234", "err", "no answer\nfrom DNS")
	e := parseEntry(t, recv(t, c))
	for k, want := range map[string]string{
		"PRIORITY": "3", "SYSLOG_IDENTIFIER": "oemeshd", "PEER": "192.0.2.1", "SPI": "0x1234",
		"GROUP": "private-or-clear", "ERR": "no answer\nfrom DNS",
	} {
		if e[k] != want {
			t.Errorf("%s = %q, want %q (entry %q)", k, e[k], want, e)
		}
	}
	if m := e["MESSAGE"]; !strings.HasPrefix(m, "negotiation failed group=private-or-clear peer=192.0.2.1 ") ||
		strings.Contains(m, "time=") || strings.Contains(m, "level=") || strings.Contains(m, "msg=") {
		t.Errorf("MESSAGE = %q: want the message and its attributes, without time or level", m)
	}
	for k := range e {
		if !validField.MatchString(k) {
			t.Errorf("field %q is not a valid journal field name", k)
		}
	}

	log.WithGroup("ike").Warn("retransmit", "spi", "0xab", slog.Group("peer", "addr", "192.0.2.2"))
	e = parseEntry(t, recv(t, c))
	if e["PRIORITY"] != "4" || e["IKE_SPI"] != "0xab" || e["IKE_PEER_ADDR"] != "192.0.2.2" || e["GROUP"] != "private-or-clear" {
		t.Errorf("grouped entry = %q", e)
	}

	log.Debug("not logged at info")
	log.Info("shunt", "flow", "a")
	if e = parseEntry(t, recv(t, c)); e["PRIORITY"] != "6" || e["FLOW"] != "a" {
		t.Errorf("info entry = %q (a debug entry came through at level info?)", e)
	}
	if fallback.Len() != 0 {
		t.Errorf("fallback written while the socket took every entry: %q", fallback.String())
	}
}

// An entry bigger than a datagram goes to stderr, with its priority.
func TestJournalHandlerFallback(t *testing.T) {
	c, path := listen(t, "journal")
	var fallback bytes.Buffer
	h, err := NewJournalHandler(path, "oemeshd", &fallback, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	big := strings.Repeat("x", 4<<20)
	slog.New(h).Warn("huge", "blob", big)
	if got := fallback.String(); !strings.HasPrefix(got, "<4>huge blob=xxx") || !strings.HasSuffix(got, "x\n") {
		t.Errorf("fallback = %.40q...: want the <4> stderr form", got)
	}
	_ = c
}

func TestPrefixHandler(t *testing.T) {
	var b bytes.Buffer
	log := slog.New(NewPrefixHandler(&b, &slog.HandlerOptions{Level: slog.LevelDebug})).With("peer", "192.0.2.1")
	log.Error("failed", "err", "timeout")
	log.Debug("detail")
	log.Warn("two\nlines")
	slog.New(NewPrefixHandler(&b, nil)).Info("bare")
	want := "<3>failed peer=192.0.2.1 err=timeout\n<7>detail peer=192.0.2.1\n<4>\"two\\nlines\" peer=192.0.2.1\n<6>bare\n"
	if b.String() != want {
		t.Errorf("stderr = %q, want %q", b.String(), want)
	}
}

func TestIsJournalStream(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	match := func(s string) func(string) string {
		return env(map[string]string{"JOURNAL_STREAM": s})
	}
	if !IsJournalStream(match(fmtDevIno(st.Dev, st.Ino)), f) {
		t.Error("the stream's own dev:inode does not match")
	}
	if IsJournalStream(match(fmtDevIno(st.Dev, st.Ino+1)), f) {
		t.Error("another inode matches: a child with redirected stderr would log in the journal form")
	}
	if IsJournalStream(env(nil), f) || IsJournalStream(match("garbage"), f) {
		t.Error("matches without a valid JOURNAL_STREAM")
	}
}

func fmtDevIno(dev, ino uint64) string {
	return strings.Join([]string{uint64s(dev), uint64s(ino)}, ":")
}

func uint64s(v uint64) string { return strconv.FormatUint(v, 10) }
