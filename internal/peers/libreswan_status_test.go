package peers

import (
	"strings"
	"testing"
)

// Output captured from Libreswan 4.10 (Debian 12) by the self-tests.
const showStatesOE = `000 #1: "private-or-clear#192.0.2.0/24"[1] ...192.0.2.2:500 STATE_V2_ESTABLISHED_IKE_SA (established IKE SA); REKEY in 27972s; REPLACE in 28798s; newest; idle;
000 #2: "private-or-clear#192.0.2.0/24"[1] ...192.0.2.2:500 STATE_V2_ESTABLISHED_CHILD_SA (established Child SA); REKEY in 28526s; REPLACE in 28800s; newest; eroute owner; IKE SA #1; idle;
000 #3: "rsa":4500 STATE_V2_PARENT_I1 (sent IKE_SA_INIT request); RETRANSMIT in 1s; idle;
000 #4: "v6"[2] ...2001:db8::2:500 STATE_V2_ESTABLISHED_IKE_SA (established IKE SA); idle;
`

func TestParseShowStates(t *testing.T) {
	sts, err := parseShowStates(showStatesOE)
	if err != nil {
		t.Fatal(err)
	}
	want := []LibreswanState{
		{Serial: 1, Conn: "private-or-clear#192.0.2.0/24", Instance: 1, Peer: "192.0.2.2", Port: 500, State: "STATE_V2_ESTABLISHED_IKE_SA", Story: "established IKE SA"},
		{Serial: 2, Conn: "private-or-clear#192.0.2.0/24", Instance: 1, Peer: "192.0.2.2", Port: 500, State: "STATE_V2_ESTABLISHED_CHILD_SA", Story: "established Child SA"},
		{Serial: 3, Conn: "rsa", Peer: "", Port: 4500, State: "STATE_V2_PARENT_I1", Story: "sent IKE_SA_INIT request"},
		{Serial: 4, Conn: "v6", Instance: 2, Peer: "2001:db8::2", Port: 500, State: "STATE_V2_ESTABLISHED_IKE_SA", Story: "established IKE SA"},
	}
	if len(sts) != len(want) {
		t.Fatalf("got %d states, want %d: %+v", len(sts), len(want), sts)
	}
	for i := range want {
		got := sts[i]
		got.Line = ""
		if got != want[i] {
			t.Errorf("state %d:\n got %+v\nwant %+v", i, got, want[i])
		}
	}
	if !sts[0].IKEEstablished() || !sts[1].ChildEstablished() || sts[2].IKEEstablished() {
		t.Error("IKEEstablished/ChildEstablished")
	}
	for _, bad := range []string{
		`000 #x: "c" ...1.2.3.4:500 STATE_A (b)`,
		`000 #1: "c" ...1.2.3.4:500 no state here`,
		`000 #1: "c" ...1.2.3.4:99999 STATE_V2_X (y)`,
	} {
		if _, err := parseShowStates(bad); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("%q: error %v, want one naming line 1", bad, err)
		}
	}
}

func TestParseTrafficStatus(t *testing.T) {
	ts, err := parseTrafficStatus(`006 #2: "private-or-clear#192.0.2.0/24"[1] ...192.0.2.2, type=ESP, add_time=0, inBytes=672, outBytes=1344, maxBytes=2^63B, id='ID_NULL'
006 #5: "rsa", type=ESP, add_time=1700000000, inBytes=0, outBytes=0, id='192.0.2.2'
`)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 2 {
		t.Fatalf("%d lines: %+v", len(ts), ts)
	}
	if a := ts[0]; a.Serial != 2 || a.Conn != "private-or-clear#192.0.2.0/24" || a.Instance != 1 || a.Peer != "192.0.2.2" ||
		a.Type != "ESP" || a.InBytes != 672 || a.OutBytes != 1344 || a.ID != "ID_NULL" || a.Fields["maxBytes"] != "2^63B" {
		t.Errorf("line 1: %+v", a)
	}
	if b := ts[1]; b.Serial != 5 || b.Conn != "rsa" || b.Peer != "" || b.ID != "192.0.2.2" {
		t.Errorf("line 2: %+v", b)
	}
	// A client with a lease (leftmodecfgclient): our client, then the peer.
	lease, err := parseTrafficStatus(`#2: "private-or-clear#198.18.0.2/32"[1] 100.64.0.1/32=== ...198.18.0.2, type=ESP, add_time=1796573838, inBytes=840, outBytes=0, maxBytes=2^63B, id='CN=o.oe.test', lease=100.64.0.1/32`)
	if err != nil || len(lease) != 1 || lease[0].Peer != "198.18.0.2" || lease[0].InBytes != 840 || lease[0].Fields["lease"] != "100.64.0.1/32" ||
		lease[0].ID != "CN=o.oe.test" {
		t.Errorf("line with a lease: %+v, %v", lease, err)
	}
	// A server that leased the peer an address (rightaddresspool): the peer, then its lease.
	server, err := parseTrafficStatus(`#5: "clear-or-private#198.18.0.2/32"[3] ...198.18.0.2===100.64.0.1/32, type=ESP, add_time=1796574931, inBytes=84, outBytes=84, maxBytes=2^63B, id='ID_NULL'`)
	if err != nil || len(server) != 1 || server[0].Peer != "198.18.0.2" || server[0].Instance != 3 || server[0].OutBytes != 84 || server[0].ID != "ID_NULL" {
		t.Errorf("server's line with a lease: %+v, %v", server, err)
	}
	if _, err := parseTrafficStatus(`006 #2: "c" ...1.2.3.4, type=ESP, inBytes=lots`); err == nil || !strings.Contains(err.Error(), "inBytes") {
		t.Errorf("bad inBytes: %v", err)
	}
}

func TestClassifyChild(t *testing.T) {
	const (
		noESP    = `Nov 27 14:44:39.182966: ERROR: "private-or-clear#192.0.2.0/24"[1] ...192.0.2.1 #2: netlink response for Add SA esp.d749d422@192.0.2.1: Function not implemented (errno 38)`
		halfFail = `Nov 27 14:44:39.182971: "private-or-clear#192.0.2.0/24"[1] ...192.0.2.1 #2: setup_half_ipsec_sa() hit fail:`
		rejected = `Nov 27 14:44:39.183178: "private-or-clear#192.0.2.0/24"[1] ...192.0.2.2 #2: IKE_AUTH response rejected Child SA with TS_UNACCEPTABLE`
		est      = `"private-or-clear#192.0.2.0/24"[1] ...192.0.2.2 #2: initiator established Child SA using #1; IPsec tunnel [192.0.2.1-192.0.2.1:0-65535 0] -> [192.0.2.2-192.0.2.2:0-65535 0] {ESP/ESN=>0x2b0def19 <0xcd7b40e8 xfrm=AES_GCM_16_256-NONE DPD=passive}`
	)
	for _, tc := range []struct {
		name   string
		lines  []string
		want   ChildOutcome
		notify string
		spi    string
	}{
		{"nothing yet", []string{"initiating IKEv2 connection"}, ChildPending, "", ""},
		{"responder on a kernel without ESP", []string{noESP, halfFail}, ChildKernelNoESP, "", "d749d422"},
		{"initiator refused by peer", []string{rejected}, ChildRejectedByPeer, "TS_UNACCEPTABLE", ""},
		{"own kernel failure wins over the peer's notify", []string{noESP, rejected}, ChildKernelNoESP, "", "d749d422"},
		{"installed", []string{est}, ChildEstablished, "", ""},
		{"other failure", []string{halfFail}, ChildFailed, "", ""},
		{"the first attempt's SPI, not the revived one's", []string{noESP, halfFail, strings.Replace(noESP, "d749d422", "2104b9a", 1), halfFail}, ChildKernelNoESP, "", "d749d422"},
		{"short SPI is padded", []string{strings.Replace(noESP, "d749d422", "c1f5874", 1)}, ChildKernelNoESP, "", "0c1f5874"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := classifyChild(tc.lines)
			if r.Outcome != tc.want || r.Notify != tc.notify || r.SPI != tc.spi || (tc.spi != "" && r.SADst != "192.0.2.1") {
				t.Errorf("got %v notify %q spi %q (%v), want %v %q %q", r.Outcome, r.Notify, r.SPI, r.Lines, tc.want, tc.notify, tc.spi)
			}
		})
	}
}

func TestMentionsPeer(t *testing.T) {
	for _, tc := range []struct {
		line string
		want bool
	}{
		{`"private-or-clear#192.0.2.0/24"[1] ...192.0.2.2 #2: initiator established Child SA using #1`, true},
		{`"clear-or-private#198.18.0.2/32"[3] ...198.18.0.2===100.64.0.1/32 #4: responder established Child SA using #3`, true},
		{`"private-or-clear#192.0.2.0/24"[1] ...192.0.2.22 #2: initiator established Child SA using #1`, false},
		{`"clear-or-private#198.18.0.2/32"[3] ...198.18.0.20===100.64.0.1/32 #4: responder established Child SA`, false},
		{`"c" 100.64.0.1/32===198.18.0.2 #4: established`, false},
	} {
		if got := mentionsPeer(tc.line, "192.0.2.2") || mentionsPeer(tc.line, "198.18.0.2"); got != tc.want {
			t.Errorf("mentionsPeer(%q) = %v, want %v", tc.line, got, tc.want)
		}
	}
}

func FuzzParseWhackStatus(f *testing.F) {
	f.Add(showStatesOE)
	f.Add(`006 #2: "c"[1] ...192.0.2.2, type=ESP, inBytes=1, outBytes=2, id='ID_NULL'`)
	f.Add(`000 #1: "a":500 STATE_X ()`)
	f.Fuzz(func(t *testing.T, s string) {
		if sts, err := parseShowStates(s); err == nil {
			for _, st := range sts {
				if st.Port < 0 || st.Port > 65535 || !strings.HasPrefix(st.State, "STATE_") {
					t.Fatalf("accepted %+v", st)
				}
			}
		}
		_, _ = parseTrafficStatus(s)
		_ = classifyChild(strings.Split(s, "\n"))
	})
}
