package control

import (
	"testing"
	"time"
)

func TestEnumsValid(t *testing.T) {
	valid := []interface{ Valid() bool }{
		AuthKey, AuthPSK, AuthNull, AuthCert, ModeTunnel, ModeTransport,
		GroupClear, GroupClearOrPrivate, GroupPrivateOrClear, GroupPrivate, GroupBlock,
		ShuntPass, ShuntDrop, ShuntHold, RecordIPSECKEY, RecordTXT, RecordKEY,
		AnswerRecords, AnswerNoData, AnswerNXDomain, KeyNone, KeyDSA, KeyRSA, KeyECDSA, KeyEdDSA,
		ConnAdded, ConnRouted, ConnNegotiating, ConnUp, ConnDown, ConnGaveUp, AutoAdd, AutoRoute, AutoStart,
		UDPEncapAlways, UDPEncapNAT, ESPTransportRaw, ESPTransportUDP,
	}
	for _, v := range valid {
		if !v.Valid() {
			t.Errorf("%q is not valid", v)
		}
	}
	// Display text and the empty value are not enum values.
	invalid := []interface{ Valid() bool }{
		Auth("null (anonymous)"), Auth(""), Mode("TUNNEL"), Group("private (conn x)"), ShuntKind(""),
		RecordType("SRV"), Answer("NXDOMAIN"), KeyAlgorithm("Ed25519"), ConnState("gave up"), ConnAuto("ignore"),
		UDPEncap("auto"), UDPEncap(""), ESPTransport("ESP-in-UDP"), ESPTransport(""),
	}
	for _, v := range invalid {
		if v.Valid() {
			t.Errorf("%q is valid", v)
		}
	}
}

func TestSeconds(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want int64
	}{{0, 0}, {499 * time.Millisecond, 0}, {500 * time.Millisecond, 1}, {65*time.Second + 400*time.Millisecond, 65}, {time.Hour, 3600}} {
		if got := Seconds(tc.d); got != tc.want {
			t.Errorf("Seconds(%v) = %d, want %d", tc.d, got, tc.want)
		}
	}
}
