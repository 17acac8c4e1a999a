package ike

import (
	"encoding/hex"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oemesh/oemesh/ike/internal/wire"
	"github.com/oemesh/oemesh/internal/pcap"
)

const capturesDir = "../testdata/captures"

// captured is one IKE message from a capture.
type captured struct {
	file     string
	index    int
	src, dst netip.AddrPort
	raw      []byte
	msg      *wire.Message
}

// readCaptureIKE returns every IKE message of a capture: UDP 500, and UDP
// 4500 behind the non-ESP marker. ESP and keepalives are skipped.
func readCaptureIKE(t *testing.T, path string) (msgs []captured, esp int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ds, err := pcap.ReadUDP(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for _, d := range ds {
		b := d.Payload
		if d.Src.Port() == 4500 || d.Dst.Port() == 4500 {
			ike, kind := wire.Demux4500(b)
			switch kind {
			case wire.KindESP, wire.KindKeepalive:
				esp++
				continue
			case wire.KindInvalid:
				t.Fatalf("%s packet %d: unclassifiable datagram on port 4500: %x", path, d.Index, b)
			}
			b = ike
		} else if d.Src.Port() != 500 && d.Dst.Port() != 500 {
			continue
		}
		m, err := wire.ParseMessage(b)
		if err != nil {
			t.Fatalf("%s packet %d (%v -> %v): %v", filepath.Base(path), d.Index, d.Src, d.Dst, err)
		}
		msgs = append(msgs, captured{file: filepath.Base(path), index: d.Index, src: d.Src, dst: d.Dst, raw: b, msg: m})
	}
	return msgs, esp
}

func captureFiles(t *testing.T) []string {
	files, err := filepath.Glob(filepath.Join(capturesDir, "*.pcap"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no captures in %s: %v", capturesDir, err)
	}
	return files
}

func payloadTypes(ps []wire.Payload) string {
	var s []string
	for _, p := range ps {
		if n, ok := p.(*wire.Notify); ok {
			s = append(s, "N("+n.NotifyType.String()+")")
			continue
		}
		s = append(s, p.Type().String())
	}
	return strings.Join(s, " ")
}

// TestCapturesParse decodes every IKE message of every capture, re-encodes
// the plaintext ones byte for byte, and checks NAT detection hashes
// against the addresses the packets really used.
func TestCapturesParse(t *testing.T) {
	total := 0
	for _, path := range captureFiles(t) {
		msgs, esp := readCaptureIKE(t, path)
		if len(msgs) == 0 {
			t.Errorf("%s: no IKE messages", path)
		}
		total += len(msgs)
		t.Logf("%s: %d IKE messages, %d ESP/keepalive skipped", filepath.Base(path), len(msgs), esp)
		for _, c := range msgs {
			m := c.msg
			t.Logf("  #%d %v %v mid=%d: %s", c.index, m.Exchange, respStr(m), m.MessageID, payloadTypes(m.Payloads))
			// Every plaintext message re-encodes to the octets received.
			last := m.Payloads[len(m.Payloads)-1]
			if _, enc := last.(*wire.Encrypted); !enc {
				if _, frag := last.(*wire.EncryptedFragment); !frag {
					out, err := (&wire.Message{Header: m.Header, Payloads: m.Payloads}).Marshal()
					if err != nil {
						t.Errorf("%s #%d: re-encode: %v", c.file, c.index, err)
					} else if hex.EncodeToString(out) != hex.EncodeToString(c.raw) {
						t.Errorf("%s #%d: re-encoding differs\n got %x\nwant %x", c.file, c.index, out, c.raw)
					}
				}
			}
			if m.Exchange == wire.IKESAInit {
				// No NAT was on the path. strongSwan with kernel-libipsec
				// can only do UDP-encapsulated ESP, so it fakes its
				// source hash ("faking NAT situation to enforce UDP
				// encapsulation"); the destination hash must still match.
				want := NATStatus{Checked: true, RemoteBehindNAT: strings.Contains(c.file, "libipsec")}
				if st := detectNAT(m, c.dst, c.src); st != want {
					t.Errorf("%s #%d: NAT detection %+v, want %+v (hashes of %v/%v)", c.file, c.index, st, want, c.src, c.dst)
				}
			}
		}
	}
	if total < 50 {
		t.Errorf("only %d IKE messages across captures", total)
	}
}

func respStr(m *wire.Message) string {
	if m.IsResponse() {
		return "response"
	}
	return "request"
}
