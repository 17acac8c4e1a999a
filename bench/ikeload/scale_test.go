package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/control"
)

// The side-by-side benchmark's flags (bench/ike-scale.sh passes them).
var (
	scaleN           = flag.Int("scale.n", 500, "handshakes per cell and round")
	scaleRounds      = flag.Int("scale.rounds", 2, "rounds; each runs every cell once, in a rotated order")
	scaleConc        = flag.Int("scale.concurrency", 8, "handshakes in flight (below every responder's cookie threshold)")
	scaleWarm        = flag.Int("scale.warm", 20, "handshakes before each measurement, not counted")
	scaleResponders  = flag.String("scale.responders", "oemeshd,respond,strongswan5,strongswan6", "responders to compare")
	scaleAuths       = flag.String("scale.auths", "ed25519,psk,ed25519+mlkem768", "ways to authenticate: ed25519, rsa, psk, null (not strongSwan), each with +mlkem768 for the hybrid key exchange")
	scaleJSON        = flag.String("scale.json", "", "also write every measurement as JSON to this file")
	scaleFailOnError = flag.Bool("scale.strict", true, "fail when a handshake fails")
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat:
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// measurement is one cell in one round.
type measurement struct {
	Responder string  `json:"responder"`
	Auth      string  `json:"auth"`
	Round     int     `json:"round"`
	Report    *report `json:"report"`
	// RespCPUms is the responder's utime+stime over the measured
	// handshakes (/proc/PID/stat), in ms; PerHandshake divides it by the
	// successful handshakes. GenCPUms is the generator's own.
	RespCPUms       float64 `json:"responder_cpu_ms"`
	RespPerHS       float64 `json:"responder_cpu_ms_per_handshake"`
	GenCPUms        float64 `json:"generator_cpu_ms"`
	GenPerHS        float64 `json:"generator_cpu_ms_per_handshake"`
	LoadAvgAtFinish string  `json:"loadavg"`
}

// BenchmarkIKEScale measures, side by side in one run, the handshakes per
// second and the responder's CPU per handshake of oemeshd (userspace data
// plane: each CHILD SA installed), `oemesh respond`, strongSwan 5.9.8 and
// strongSwan 6.1 (kernel-libipsec), each in its own namespace, under the
// same load from this process (ikeload's loader, from 10.1.0.0/16). Each
// handshake is IKE_SA_INIT, IKE_AUTH with one CHILD SA, then the
// initiator deletes the IKE SA: the CPU per handshake includes the
// delete. Each cell starts its responder afresh, runs -scale.warm
// handshakes, then reads the responder's CPU time, runs -scale.n and
// reads it again. Rounds rotate the order of the cells, so no responder
// always runs first or last. bench/ike-scale.sh runs it as root:
//
//	go test -run '^$' -bench IKEScale -benchtime 1x ./bench/ikeload/ -args -scale.n 500
func BenchmarkIKEScale(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root (network namespaces, TUN, charon)")
	}
	responders := strings.Split(*scaleResponders, ",")
	var cells []cell
	for _, a := range strings.Split(*scaleAuths, ",") {
		auth, kex := a, kexClassical
		if s, ok := strings.CutSuffix(a, "+mlkem768"); ok {
			auth, kex = s, kexHybrid
		}
		switch authMethod(auth) {
		case authEd25519, authRSA, authPSK, authNull:
		default:
			b.Fatalf("-scale.auths %q: want ed25519, rsa, psk or null, each optionally with +mlkem768", a)
		}
		for _, r := range responders {
			switch r {
			case respOemeshd, respRespond, respSSW5, respSSW6:
			default:
				b.Fatalf("-scale.responders %q: want oemeshd, respond, strongswan5 or strongswan6", r)
			}
			if c := (cell{resp: r, auth: authMethod(auth), kex: kex}); c.supported() {
				cells = append(cells, c)
			}
		}
	}
	bin := buildBinaries(b, "oemesh", "oemeshd")
	keys := map[authMethod]keySet{}
	for _, a := range []authMethod{authEd25519, authRSA} {
		dir := b.TempDir()
		if err := runKeys([]string{"-auth", string(a), "-out", dir}, io.Discard, os.Stderr); err != nil {
			b.Fatal(err)
		}
		keys[a] = keySet{dir}
	}
	keys[authPSK], keys[authNull] = keys[authEd25519], keys[authEd25519]
	tb := newTestbed(b, 0)
	var all []measurement
	b.ResetTimer()
	for round := range *scaleRounds {
		for k := range cells {
			c := cells[(k+round*len(cells)/max(1, *scaleRounds))%len(cells)]
			m := measureCell(b, tb, c, keys[c.auth], bin)
			m.Round = round + 1
			all = append(all, m)
			b.Logf("round %d %-12s %-17s %s; responder %.3f ms CPU/handshake, generator %.3f", m.Round, c.resp, c.name(),
				m.Report.line(), m.RespPerHS, m.GenPerHS)
		}
	}
	b.StopTimer()
	fmt.Print(scaleTable(all, responders, cells))
	if *scaleJSON != "" {
		data, err := json.MarshalIndent(all, "", "  ")
		if err == nil {
			err = os.WriteFile(*scaleJSON, data, 0o644)
		}
		if err != nil {
			b.Errorf("-scale.json: %v", err)
		}
	}
}

// measureCell runs one cell: a fresh responder, the warm-up, and the
// measured handshakes between two readings of both processes' CPU time.
// Each cell's responder runs in a namespace of its own.
func measureCell(b *testing.B, tb *testbed, c cell, keys keySet, bin string) measurement {
	i := tb.addResponder(b)
	addr := tb.respAddr(i)
	r := startResponder(b, c, tb.resp[i], addr, keys, bin)
	defer r.stop()
	flags := []string{"-target", addr, "-src", srcPrefix, "-concurrency", fmt.Sprint(*scaleConc), "-timeout", "20s", "-auth", string(c.auth), "-kex", string(c.kex)}
	switch c.auth {
	case authPSK:
		flags = append(flags, "-psk", psk, "-id", idPSK)
	case authNull:
	default:
		flags = append(flags, "-key", keys.path("initiator.key"), "-peer-key", keys.path("responder.pub"), "-id", idKey)
	}
	run := func(n int, check func()) *report {
		args := append(flags, "-n", fmt.Sprint(n))
		if check != nil {
			args = append(args, "-hold", "1ns")
		}
		cfg, err := parseFlags(args, os.Stderr)
		if err != nil {
			b.Fatal(err)
		}
		l := tb.loaderIn(b, cfg)
		defer l.close()
		l.keepHeld = check != nil
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		rep, err := l.run(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if *scaleFailOnError && rep.Failed > 0 {
			b.Fatalf("%s %s: %s; first errors %v", c.resp, c.name(), rep.line(), rep.Examples)
		}
		if check != nil {
			check()
			l.deleteHeld()
		}
		return rep
	}
	// The warm-up's SAs stay up until oemeshd shows them installed in
	// its data plane.
	var check func()
	if r.control != "" {
		check = func() { checkInstalled(b, r.control, *scaleWarm) }
	}
	run(*scaleWarm, check)
	settle(r.pid)
	r0, err := cpuTicks(r.pid)
	if err != nil {
		b.Fatal(err)
	}
	g0, _ := cpuTicks(os.Getpid())
	waitProfiles := startProfiles(b, r.control, fmt.Sprintf("%s-%s-n%d-c%d", c.resp, c.name(), *scaleN, *scaleConc))
	rep := run(*scaleN, nil)
	waitProfiles()
	settle(r.pid)
	r1, err := cpuTicks(r.pid)
	if err != nil {
		b.Fatal(err)
	}
	g1, _ := cpuTicks(os.Getpid())
	load, _ := os.ReadFile("/proc/loadavg")
	m := measurement{Responder: c.resp, Auth: c.name(), Report: rep,
		RespCPUms: float64(r1-r0) * 1000 / clockTicks, GenCPUms: float64(g1-g0) * 1000 / clockTicks,
		LoadAvgAtFinish: strings.Join(strings.Fields(string(load))[:3], " ")}
	if rep.Succeeded > 0 {
		m.RespPerHS = m.RespCPUms / float64(rep.Succeeded)
		m.GenPerHS = m.GenCPUms / float64(rep.Succeeded)
	}
	return m
}

// scaleTable is the summary: per way of authenticating, each responder's
// handshakes/s, CPU per handshake and latency, pooled over the rounds,
// and oemeshd's and respond's CPU per handshake as a fraction of
// strongSwan 5.9.8's.
func scaleTable(all []measurement, responders []string, cells []cell) string {
	type agg struct {
		ok         int
		secs, cpu  float64
		p50s, p99s []float64
	}
	sum := map[[2]string]*agg{}
	var auths []string
	for _, c := range cells {
		if !containsStr(auths, c.name()) {
			auths = append(auths, c.name())
		}
	}
	for _, m := range all {
		k := [2]string{m.Responder, m.Auth}
		a := sum[k]
		if a == nil {
			a = &agg{}
			sum[k] = a
		}
		a.ok += m.Report.Succeeded
		a.secs += m.Report.Seconds
		a.cpu += m.RespCPUms
		a.p50s = append(a.p50s, m.Report.P50)
		a.p99s = append(a.p99s, m.Report.P99)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n| auth | responder | handshakes/s | responder CPU ms/handshake | vs strongSwan 5.9.8 | vs strongSwan 6.1 | p50 ms | p99 ms |\n|---|---|---|---|---|---|---|---|\n")
	for _, au := range auths {
		perHS := func(r string) float64 {
			a := sum[[2]string{r, au}]
			if a == nil || a.ok == 0 {
				return 0
			}
			return a.cpu / float64(a.ok)
		}
		for _, r := range responders {
			a := sum[[2]string{r, au}]
			if a == nil {
				continue
			}
			ratio := func(base string) string {
				if r == base || perHS(base) == 0 || perHS(r) == 0 {
					return ""
				}
				return fmt.Sprintf("%.2f", perHS(r)/perHS(base))
			}
			fmt.Fprintf(&b, "| %s | %s | %.0f | %.3f | %s | %s | %s | %s |\n", au, r, float64(a.ok)/a.secs, perHS(r),
				ratio(respSSW5), ratio(respSSW6), spread(a.p50s), spread(a.p99s))
		}
	}
	return b.String()
}

// spread writes the values of the rounds as "min–max" (one: itself).
func spread(v []float64) string {
	lo, hi := v[0], v[0]
	for _, x := range v {
		lo, hi = min(lo, x), max(hi, x)
	}
	if lo == hi {
		return fmt.Sprintf("%.1f", lo)
	}
	return fmt.Sprintf("%.1f–%.1f", lo, hi)
}

func containsStr(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

// checkInstalled asks oemeshd (its control socket) whether it uses the
// userspace data plane and holds want tunnels: the CHILD SAs it
// installed for the warm-up's handshakes, still up.
func checkInstalled(b *testing.B, sock string, want int) {
	var st control.Status
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := control.NewClient(sock).Do(ctx, "GET", "/v1/status", nil, &st); err != nil {
		b.Fatalf("oemeshd status: %v", err)
	}
	if st.Dataplane != "userspace" || st.Counts["tunnels"] != uint64(want) {
		b.Fatalf("oemeshd: data plane %q with %d tunnels; want userspace with the %d CHILD SAs of the warm-up installed", st.Dataplane, st.Counts["tunnels"], want)
	}
}
