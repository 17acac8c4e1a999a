package wire

import "testing"

func TestDemux4500(t *testing.T) {
	ike := []byte{0, 0, 0, 0, 1, 2, 3}
	if b, k := Demux4500(ike); k != KindIKE || string(b) != string(ike[4:]) {
		t.Errorf("IKE: %v", k)
	}
	if _, k := Demux4500([]byte{0xff}); k != KindKeepalive {
		t.Errorf("keepalive: %v", k)
	}
	if _, k := Demux4500([]byte{0, 0, 1, 0, 0, 0, 0, 1, 9}); k != KindESP {
		t.Errorf("ESP: %v", k)
	}
	if _, k := Demux4500([]byte{1, 2}); k != KindInvalid {
		t.Errorf("short: %v", k)
	}
	if string(AddNonESPMarker([]byte{7})) != "\x00\x00\x00\x00\x07" {
		t.Errorf("marker")
	}
}
