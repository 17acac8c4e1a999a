package main

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/internal/control"
	"github.com/oemesh/oemesh/internal/udpmux"
)

func TestParseXfrmStat(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     map[string]uint64
		err      bool
	}{
		{name: "zeros", in: "XfrmInError             \t0\nXfrmInNoStates          \t0\n", want: map[string]uint64{}},
		{name: "the three", in: "XfrmInNoStates\t7\nXfrmInStateProtoError\t3\nXfrmInStateSeqError\t2\nXfrmOutNoStates\t9\nXfrmInTmplMismatch\t4\n",
			want: map[string]uint64{"unknown_spi": 7, "icv": 3, "replay": 2}},
		{name: "others", in: "XfrmInHdrError 1\nXfrmInStateExpired 5\n\n", want: map[string]uint64{"header": 1, "sa_expired": 5}},
		{name: "not a count", in: "XfrmInNoStates x\n", err: true},
		{name: "three fields", in: "XfrmInNoStates 1 2\n", err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseXfrmStat(strings.NewReader(tc.in))
			if (err != nil) != tc.err {
				t.Fatalf("err = %v, want error %v", err, tc.err)
			}
			if !tc.err && !maps.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestReadXfrmStat reads this kernel's statistics when it has them.
func TestReadXfrmStat(t *testing.T) {
	if _, err := readXfrmStat("/nonexistent/xfrm_stat"); err == nil || !strings.Contains(err.Error(), "CONFIG_XFRM_STATISTICS") {
		t.Errorf("missing file: err = %v, want one naming CONFIG_XFRM_STATISTICS", err)
	}
	if _, err := readXfrmStat(xfrmStatPath); err != nil {
		t.Logf("this kernel: %v", err)
	}
}

func TestUserspaceESPDropsView(t *testing.T) {
	got := userspaceESPDropsView(map[string]uint64{"no-sa": 4, "auth": 2, "replay": 1, "hold-full": 9, "send-error": 3, "trailer": 0})
	want := map[string]uint64{"unknown_spi": 4, "icv": 2, "replay": 1}
	if !maps.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestIKEDefences(t *testing.T) {
	v := ikeDefences(ike.Stats{CookieMode: true, CookiesSent: 10, CookiesVerified: 4, HalfOpen: 64,
		Drops: map[ike.DropReason]uint64{ike.DropMalformed: 3, ike.DropBadCookie: 2}})
	want := control.Defences{CookieMode: true, CookiesDemanded: 10, CookiesVerified: 4, HalfOpen: 64,
		IKEDrops: map[string]uint64{"malformed": 3, "bad_cookie": 2}}
	if v.CookieMode != want.CookieMode || v.CookiesDemanded != want.CookiesDemanded || v.CookiesVerified != want.CookiesVerified ||
		v.HalfOpen != want.HalfOpen || !maps.Equal(v.IKEDrops, want.IKEDrops) {
		t.Errorf("got %+v, want %+v", v, want)
	}
	if v := ikeDefences(ike.Stats{}); v.IKEDrops != nil {
		t.Errorf("no drops: IKEDrops = %v, want nil (omitted)", v.IKEDrops)
	}
}

func TestAddMuxDrops(t *testing.T) {
	v := &control.Defences{}
	addMuxDrops(v, udpmux.Stats{})
	if v.IKEDrops != nil {
		t.Errorf("no mux drops: IKEDrops = %v, want nil", v.IKEDrops)
	}
	v = &control.Defences{IKEDrops: map[string]uint64{"malformed": 2}}
	addMuxDrops(v, udpmux.Stats{Invalid: 5, IKEIn: 100})
	if want := map[string]uint64{"malformed": 2, "too_short": 5}; !maps.Equal(v.IKEDrops, want) {
		t.Errorf("got %v, want %v", v.IKEDrops, want)
	}
}

func TestDefenceMetrics(t *testing.T) {
	v := &control.Defences{CookieMode: true, CookiesDemanded: 10, CookiesVerified: 4,
		ESPDrops: map[string]uint64{"unknown_spi": 5, "icv": 1}, ESPDropsFrom: "userspace"}
	got := scrape(t, collectorFunc(func(ch chan<- prometheus.Metric) { defenceMetrics(metricSink{ch}, v) }))
	want := []string{
		`oemesh_esp_drops_total{reason="icv",source="userspace"} 1`,
		`oemesh_esp_drops_total{reason="unknown_spi",source="userspace"} 5`,
		`oemesh_ike_cookie_mode 1`,
		`oemesh_ike_cookies_total{event="demanded"} 10`,
		`oemesh_ike_cookies_total{event="verified"} 4`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("scrape:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
