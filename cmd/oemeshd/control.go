package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/oemesh/oemesh/internal/control"
	"github.com/oemesh/oemesh/internal/version"
	"github.com/oemesh/oemesh/kernel/userspace"
	"github.com/oemesh/oemesh/policygroups"
)

func (d *daemon) registerHandlers() {
	d.ctl.Handle("GET /v1/status", d.handleStatus)
	d.ctl.Handle("GET /v1/policy/explain", d.handleExplain)
	d.ctl.Handle("POST /v1/policy/check", d.handlePolicyCheck)
	d.ctl.Handle("POST /v1/policy/reload", d.handlePolicyReload)
	d.ctl.Handle("GET /v1/traffic", d.handleTraffic)
	d.ctl.Handle("GET /v1/shunts", d.handleShunts)
	d.ctl.Handle("GET /v1/peers", d.handlePeers)
	d.ctl.Handle("GET /v1/dns/cache", d.handleDNSCache)
	d.ctl.Handle("POST /v1/shunts/clear", d.handleShuntsClear)
	d.ctl.Handle("POST /v1/dns/flush", d.handleDNSFlush)
	d.ctl.Handle("GET /v1/debug/keys", d.handleDebugKeys)
	d.ctl.Handle("POST /v1/up", d.handleUp)
	d.ctl.Handle("POST /v1/down", d.handleDown)
	d.registerConnHandlers()
	d.registerBindingHandlers()
	d.registerMemoryHandlers()
	d.registerProfileHandlers()
}

func (d *daemon) handleStatus(r *http.Request) (any, error) {
	pol, loaded, warns := d.policy.get()
	counts := map[control.Group]int{}
	for g, n := range pol.Count() {
		counts[groupView(g)] = n
	}
	ws := make([]string, len(warns))
	for i, w := range warns {
		ws[i] = w.String()
	}
	st := control.Status{
		Version:        version.Get().Version,
		PID:            os.Getpid(),
		Started:        d.started,
		Uptime:         d.clock.Now().Sub(d.started).Round(time.Second).String(),
		Config:         d.live.Load().Summary(),
		Policy:         control.PolicySummary{Dir: d.cfg.Policies, Loaded: loaded, Counts: counts, Warnings: ws},
		Dataplane:      d.dpName,
		Why:            d.dpReason,
		Identity:       d.identity,
		KeyFingerprint: d.keyFingerprint(),
		Publish:        d.publishView(),
	}
	for k, v := range d.connSummary() {
		st.Config[k] = v
	}
	if d.oe != nil {
		s := d.stats()
		tunnels := d.oe.Tunnels(r.Context())
		st.UDPEncap = d.udpEncap.view(tunnels)
		st.Config["kernel.udp_encap"] = d.udpEncap.summary()
		st.Counts = map[string]uint64{
			"tunnels":        uint64(len(tunnels)),
			"shunts":         uint64(len(d.oe.Shunts())),
			"acquires":       s.Acquires,
			"handshakes":     s.Handshakes,
			"dns_lookups":    s.DNSLookups,
			"key_prefetches": s.Prefetches,
			"refused":        s.Refused,
		}
		if d.bindings != nil {
			bs := d.bindings.Stats()
			st.Counts["bindings"] = uint64(bs.Entries)
			st.Counts["binding_hits"] = bs.Hits
			st.Counts["binding_misses"] = bs.Misses
			st.Counts["binding_pending_waits"] = bs.Waits
			st.Counts["binding_pending_bound"] = bs.WaitsBound
			st.Counts["binding_pending_timeouts"] = bs.WaitsTimedOut
		}
		for reason, n := range s.Failures {
			st.Counts["failures:"+reason] = n
		}
		if d.stub != nil {
			maps.Copy(st.Counts, stubCounts(d.stub.Stats()))
		}
		sum := ikeSAsView(d.oe.Engine().SAs())
		st.IKESAs = &sum
		st.Defences = d.defencesView(d.oe.Engine().Stats())
		// The userspace data plane: SA directions holding their cipher
		// state (idle ones let it go, kernel.cipher_idle). With kernel
		// ESP the kernel holds the state.
		if dev, ok := d.dp.(*userspace.Device); ok {
			ds := dev.Stats()
			st.Counts["cipher_states"] = uint64(ds.Ciphers)
			// What the TUN device does for us (kernel.offloads).
			st.Counts["tun_batch"] = uint64(ds.TUNBatch)
			st.Counts["tun_offloads"] = 0
			if ds.Offloads {
				st.Counts["tun_offloads"] = 1
			}
			// ESP-in-UDP goes out through the mux's NAT-T sockets.
			if d.mux != nil {
				ms := d.mux.Stats()
				st.Counts["udp_gso_sockets"] = uint64(ms.GSO)
				st.Counts["udp_gro_sockets"] = uint64(ms.GRO)
			}
		}
	}
	return st, nil
}

func (d *daemon) handleExplain(r *http.Request) (any, error) {
	s := strings.TrimSpace(r.URL.Query().Get("addr"))
	addr, err := netip.ParseAddr(s)
	if err != nil {
		return nil, control.BadRequest("policy explain: %q is not an IP address", s)
	}
	f, err := explainFlow(addr, r.URL.Query())
	if err != nil {
		return nil, control.BadRequest("policy explain: %v", err)
	}
	pol, _, _ := d.policy.get()
	ex := pol.ExplainFlow(f)
	if ex.PortExclusion != "" {
		return explanationView(ex), nil // above everything, as in the data planes
	}
	if cex, ok := d.connExplain(addr); ok {
		return cex, nil // a conn is more specific than the groups
	}
	return explanationView(ex), nil
}

// explainFlow is the flow GET /v1/policy/explain asks about: to addr, with
// the protocol number and destination port of the query, if given.
func explainFlow(addr netip.Addr, q url.Values) (policygroups.Flow, error) {
	f := policygroups.Flow{Dst: addr}
	if s := q.Get("proto"); s != "" {
		p, err := policygroups.ParseProto(s)
		if err != nil {
			return f, fmt.Errorf("proto %q: %w", s, err)
		}
		f.Proto = p
	}
	if s := q.Get("port"); s != "" {
		n, err := strconv.ParseUint(s, 10, 16)
		if err != nil || n == 0 {
			return f, fmt.Errorf("port %q: want a number from 1 to 65535", s)
		}
		if f.Proto == 0 {
			return f, fmt.Errorf("port %s without proto", s)
		}
		f.DstPort = uint16(n)
	}
	return f, nil
}

// handlePolicyCheck checks the policy directory without applying it.
func (d *daemon) handlePolicyCheck(r *http.Request) (any, error) {
	res := control.PolicyCheck{Dir: d.cfg.Policies}
	pol, warns, err := loadPolicy(r.Context(), d.cfg.Policies)
	for _, w := range warns {
		res.Warnings = append(res.Warnings, w.String())
	}
	if err != nil {
		res.Errors = policyErrors(err)
		return res, nil
	}
	res.OK, res.Prefixes, res.Exclusions = true, pol.Len(), len(pol.Exclusions())
	return res, nil
}

func (d *daemon) handlePolicyReload(r *http.Request) (any, error) {
	return d.reloadPolicy(r.Context()), nil
}

func (d *daemon) needOE() error {
	if d.oe == nil {
		return &control.StatusError{Code: http.StatusServiceUnavailable, Err: fmt.Errorf("the OE stack is not running")}
	}
	return nil
}

func (d *daemon) handleTraffic(r *http.Request) (any, error) {
	if err := d.needOE(); err != nil {
		return nil, err
	}
	return tunnelsView(d.oe.Tunnels(r.Context())), nil
}

func (d *daemon) handleShunts(*http.Request) (any, error) {
	if err := d.needOE(); err != nil {
		return nil, err
	}
	return shuntsView(d.oe.Shunts()), nil
}

func (d *daemon) upAddr(r *http.Request) (netip.Addr, error) {
	var req control.UpRequest
	if err := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 4096)).Decode(&req); err != nil {
		return netip.Addr{}, control.BadRequest("bad request body: %v", err)
	}
	a, err := netip.ParseAddr(strings.TrimSpace(req.Addr))
	if err != nil {
		return netip.Addr{}, control.BadRequest("%q is not an IP address", req.Addr)
	}
	return a.Unmap(), nil
}

func (d *daemon) handleUp(r *http.Request) (any, error) {
	if err := d.needOE(); err != nil {
		return nil, err
	}
	a, err := d.upAddr(r)
	if err != nil {
		return nil, err
	}
	src, err := sourceFor(a)
	if err != nil {
		return nil, control.BadRequest("no route to %s: %v", a, err)
	}
	ctx, cancel := context.WithTimeout(r.Context(), 60*time.Second)
	defer cancel()
	if err := d.oe.Up(ctx, src, a); err != nil {
		return control.UpReply{Addr: a.String(), Detail: err.Error()}, nil
	}
	return control.UpReply{Addr: a.String(), OK: true, Detail: "tunnel up"}, nil
}

func (d *daemon) handleDown(r *http.Request) (any, error) {
	if err := d.needOE(); err != nil {
		return nil, err
	}
	a, err := d.upAddr(r)
	if err != nil {
		return nil, err
	}
	n, err := d.oe.Down(r.Context(), a)
	if err != nil {
		return control.UpReply{Addr: a.String(), Deleted: n, Detail: err.Error()}, nil
	}
	if n == 0 {
		return control.UpReply{Addr: a.String(), Detail: "no tunnel to " + a.String()}, nil
	}
	return control.UpReply{Addr: a.String(), OK: true, Deleted: n, Detail: fmt.Sprintf("%d IKE SA(s) deleted", n)}, nil
}
