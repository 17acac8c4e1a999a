package udpgso

import (
	"encoding/binary"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

func TestRun(t *testing.T) {
	sizes := func(ls ...int) [][]byte {
		var ps [][]byte
		for _, l := range ls {
			ps = append(ps, make([]byte, l))
		}
		return ps
	}
	many := make([]int, 100)
	for i := range many {
		many[i] = 1000
	}
	for _, tc := range []struct {
		name string
		in   [][]byte
		want int
	}{
		{"empty", nil, 0},
		{"one", sizes(100), 1},
		{"equal", sizes(100, 100, 100), 3},
		{"shorter ends it", sizes(100, 100, 50, 100), 3},
		{"longer starts another", sizes(100, 100, 150), 2},
		{"segment bound", sizes(many...), MaxSegments},
		{"byte bound", sizes(9000, 9000, 9000, 9000, 9000, 9000, 9000, 9000), 7},
	} {
		if got := Run(tc.in); got != tc.want {
			t.Errorf("%s: run of %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestCmsgs: the UDP_SEGMENT message AppendSegmentCmsg writes behind
// another parses back, and Segment finds a UDP_GRO size behind another
// message, and 0 where there is none.
func TestCmsgs(t *testing.T) {
	other := make([]byte, unix.CmsgSpace(4))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&other[0]))
	h.Level, h.Type = unix.SOL_SOCKET, unix.SO_MARK
	h.SetLen(unix.CmsgLen(4))
	oob := AppendSegmentCmsg(append([]byte(nil), other...), 1416)
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("parse %x: %d messages, %v", oob, len(msgs), err)
	}
	if m := msgs[1]; m.Header.Level != unix.IPPROTO_UDP || m.Header.Type != unix.UDP_SEGMENT || binary.NativeEndian.Uint16(m.Data) != 1416 {
		t.Errorf("UDP_SEGMENT message %+v %x", m.Header, m.Data)
	}
	gro := append([]byte(nil), other...)
	start := len(gro)
	gro = append(gro, make([]byte, unix.CmsgSpace(4))...)
	g := (*unix.Cmsghdr)(unsafe.Pointer(&gro[start]))
	g.Level, g.Type = unix.IPPROTO_UDP, unix.UDP_GRO
	g.SetLen(unix.CmsgLen(4))
	binary.NativeEndian.PutUint32(gro[start+unix.CmsgLen(0):], 1400)
	if got := Segment(gro); got != 1400 {
		t.Errorf("Segment = %d, want 1400", got)
	}
	if got := Segment(other); got != 0 {
		t.Errorf("Segment without UDP_GRO = %d, want 0", got)
	}
	if got := Segment(nil); got != 0 {
		t.Errorf("Segment(nil) = %d, want 0", got)
	}
}
