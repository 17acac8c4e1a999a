package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/internal/control"
	"github.com/oemesh/oemesh/internal/udpmux"
	"github.com/oemesh/oemesh/kernel"
	"github.com/oemesh/oemesh/kernel/userspace"
)

// The ESP drop reasons of `oemesh status` and oemesh_esp_drops_total
// share one vocabulary across the two data planes: the userspace data
// plane's reason names and the kernel's XFRM statistics each map to it.
// Reasons that are not about inbound ESP (held packets, shunts, send
// errors) are not ESP drops and are left out.
var (
	userspaceESPDrops = map[string]string{
		"no-sa":      "unknown_spi",
		"auth":       "icv",
		"replay":     "replay",
		"truncated":  "truncated",
		"trailer":    "trailer",
		"selector":   "selector",
		"sa-expired": "sa_expired",
	}
	xfrmESPDrops = map[string]string{
		"XfrmInNoStates":        "unknown_spi",
		"XfrmInStateProtoError": "icv", // esp_input's -EBADMSG: the ICV did not verify
		"XfrmInStateSeqError":   "replay",
		"XfrmInHdrError":        "header",
		"XfrmInBufferError":     "buffer",
		"XfrmInStateModeError":  "mode",
		"XfrmInStateExpired":    "sa_expired",
		"XfrmInStateMismatch":   "selector",
		"XfrmInStateInvalid":    "sa_invalid",
		"XfrmInError":           "error",
	}
)

// xfrmStatPath is the kernel's XFRM statistics for the network namespace
// of the thread that opens it (the daemon's).
const xfrmStatPath = "/proc/net/xfrm_stat"

// defencesView gathers what the daemon does against a hostile network for
// Status.Defences.
func (d *daemon) defencesView(es ike.Stats) *control.Defences {
	v := ikeDefences(es)
	v.Goroutines = runtime.NumGoroutine()
	if d.mux != nil {
		addMuxDrops(v, d.mux.Stats())
	}
	if dev, ok := d.dp.(*userspace.Device); ok {
		v.ESPDrops, v.ESPDropsFrom = userspaceESPDropsView(dev.Stats().Dropped), "userspace"
		return v
	}
	if d.dpName == kernel.BackendXFRM {
		drops, err := readXfrmStat(xfrmStatPath)
		if err != nil {
			d.log.Debug("ESP drops: kernel statistics unreadable", "err", err)
			return v
		}
		v.ESPDrops, v.ESPDropsFrom = drops, "xfrm_stat"
	}
	return v
}

// ikeDefences is the IKE engine's part of Defences.
func ikeDefences(es ike.Stats) *control.Defences {
	v := &control.Defences{CookieMode: es.CookieMode, CookiesDemanded: es.CookiesSent,
		CookiesVerified: es.CookiesVerified, HalfOpen: es.HalfOpen,
		NullSAs: es.NullSAs, NullEvictions: es.NullEvictions, NullRefusals: es.NullRefusals}
	if len(es.Drops) > 0 {
		v.IKEDrops = make(map[string]uint64, len(es.Drops))
		for r, n := range es.Drops {
			v.IKEDrops[r.String()] = n
		}
	}
	return v
}

// addMuxDrops adds what the IKE sockets dropped before the engine saw it:
// datagrams too short to be IKE or ESP (too_short) and long ones a later
// one in the same batch overwrote (overrun), to the IKE drops.
func addMuxDrops(v *control.Defences, ms udpmux.Stats) {
	for reason, n := range map[string]uint64{"too_short": ms.Invalid, "overrun": ms.Overrun} {
		if n == 0 {
			continue
		}
		if v.IKEDrops == nil {
			v.IKEDrops = map[string]uint64{}
		}
		v.IKEDrops[reason] += n
	}
}

// userspaceESPDropsView maps the userspace data plane's drop counters to
// the ESP drop reasons.
func userspaceESPDropsView(dropped map[string]uint64) map[string]uint64 {
	out := map[string]uint64{}
	for name, n := range dropped {
		if r, ok := userspaceESPDrops[name]; ok && n > 0 {
			out[r] += n
		}
	}
	return out
}

// readXfrmStat reads the kernel's XFRM statistics at path and returns the
// inbound ESP drops by reason.
func readXfrmStat(path string) (map[string]uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("kernel XFRM statistics (CONFIG_XFRM_STATISTICS): %w", err)
	}
	defer f.Close()
	drops, err := parseXfrmStat(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return drops, nil
}

// parseXfrmStat parses /proc/net/xfrm_stat ("XfrmInNoStates    12" per
// line) into the inbound ESP drops by reason, leaving out zeros and the
// counters that are not inbound drops.
func parseXfrmStat(r io.Reader) (map[string]uint64, error) {
	out := map[string]uint64{}
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if len(fields) != 2 {
			return nil, fmt.Errorf("line %d: %q is not a name and a count", line, sc.Text())
		}
		n, err := strconv.ParseUint(fields[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: count of %s: %w", line, fields[0], err)
		}
		if reason, ok := xfrmESPDrops[fields[0]]; ok && n > 0 {
			out[reason] += n
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// defenceMetrics emits the defences beside the IKE engine's metrics
// (oemesh_ike_sas_half_open and oemesh_ike_drops_total are ikeMetrics';
// go_goroutines is the Go collector's).
func defenceMetrics(m metricSink, v *control.Defences) {
	mode := 0.0
	if v.CookieMode {
		mode = 1
	}
	m.gauge("oemesh_ike_cookie_mode", "1 while IKE_SA_INIT requests are answered with a cookie demand (it turns off a few seconds after the last), else 0.", mode)
	const cookieHelp = "IKE_SA_INIT cookies (RFC 7296 §2.6), demanded and verified."
	m.counter("oemesh_ike_cookies_total", cookieHelp, float64(v.CookiesDemanded), "event", "demanded")
	m.counter("oemesh_ike_cookies_total", cookieHelp, float64(v.CookiesVerified), "event", "verified")
	for reason, n := range v.ESPDrops {
		m.counter("oemesh_esp_drops_total", "Inbound ESP packets dropped, by reason (unknown_spi, icv, replay, ...); source says whose counters (userspace, xfrm_stat).",
			float64(n), "reason", reason, "source", v.ESPDropsFrom)
	}
}
