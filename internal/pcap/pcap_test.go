package pcap

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

func TestReadCaptures(t *testing.T) {
	files, _ := filepath.Glob("../../testdata/captures/*.pcap")
	if len(files) == 0 {
		t.Fatal("no captures")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		ds, err := ReadUDP(bytes.NewReader(b))
		if err != nil || len(ds) < 4 {
			t.Errorf("%s: %d datagrams, %v", f, len(ds), err)
		}
		for _, d := range ds {
			if d.Src.Port() != 500 && d.Src.Port() != 4500 {
				t.Errorf("%s #%d: source %v", f, d.Index, d.Src)
			}
		}
		// A truncated file is an error, not a panic or a silent stop.
		if _, err := ReadUDP(bytes.NewReader(b[:len(b)-3])); err == nil {
			t.Errorf("%s: truncated file accepted", f)
		}
	}
}

// capture builds a one-packet raw-IP capture.
func capture(pkt []byte) []byte {
	var b bytes.Buffer
	hdr := []any{uint32(0xa1b2c3d4), uint16(2), uint16(4), int32(0), uint32(0), uint32(65535), uint32(linkRaw)}
	for _, v := range hdr {
		binary.Write(&b, binary.LittleEndian, v)
	}
	for _, v := range []uint32{0, 0, uint32(len(pkt)), uint32(len(pkt))} {
		binary.Write(&b, binary.LittleEndian, v)
	}
	b.Write(pkt)
	return b.Bytes()
}

func TestReadIPv6(t *testing.T) {
	pkt := make([]byte, 40+8+3)
	pkt[0] = 0x60
	binary.BigEndian.PutUint16(pkt[4:], 11)
	pkt[6] = 17
	src, dst := netip.MustParseAddr("2001:db8::1").As16(), netip.MustParseAddr("2001:db8::2").As16()
	copy(pkt[8:], src[:])
	copy(pkt[24:], dst[:])
	binary.BigEndian.PutUint16(pkt[40:], 500)
	binary.BigEndian.PutUint16(pkt[42:], 4500)
	binary.BigEndian.PutUint16(pkt[44:], 11)
	copy(pkt[48:], "abc")
	ds, err := ReadUDP(bytes.NewReader(capture(pkt)))
	if err != nil || len(ds) != 1 || string(ds[0].Payload) != "abc" || ds[0].Dst.String() != "[2001:db8::2]:4500" {
		t.Fatalf("%+v %v", ds, err)
	}
	if _, err := ReadUDP(bytes.NewReader([]byte("not a capture at all!!!!"))); err == nil {
		t.Error("bad magic accepted")
	}
}

func FuzzReadUDP(f *testing.F) {
	f.Add(capture([]byte{0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 1, 244, 1, 244, 0, 8, 0, 0}))
	f.Fuzz(func(t *testing.T, b []byte) {
		ds, err := ReadUDP(bytes.NewReader(b))
		if err != nil {
			return
		}
		for _, d := range ds {
			if len(d.Payload) > len(b) {
				t.Fatal("payload longer than the file")
			}
		}
	})
}
