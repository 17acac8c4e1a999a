package main

import (
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/oemesh/oemesh/internal/control"
)

func (d *daemon) registerHandlers() {
	d.ctl.Handle("GET /v1/status", d.handleStatus)
	d.ctl.Handle("GET /v1/policy/explain", d.handleExplain)
	d.ctl.Handle("POST /v1/policy/check", d.handlePolicyCheck)
	d.ctl.Handle("POST /v1/policy/reload", d.handlePolicyReload)
}

func (d *daemon) handleStatus(*http.Request) (any, error) {
	pol, loaded, warns := d.policy.get()
	counts := map[string]int{}
	for g, n := range pol.Count() {
		counts[g.String()] = n
	}
	ws := make([]string, len(warns))
	for i, w := range warns {
		ws[i] = w.String()
	}
	return control.Status{
		Version: buildVersion(),
		PID:     os.Getpid(),
		Started: d.started,
		Uptime:  d.clock.Now().Sub(d.started).Round(time.Second).String(),
		Config:  d.cfg.Summary(),
		Policy:  control.PolicySummary{Dir: d.cfg.Policies, Loaded: loaded, Counts: counts, Warnings: ws},
	}, nil
}

func (d *daemon) handleExplain(r *http.Request) (any, error) {
	s := strings.TrimSpace(r.URL.Query().Get("addr"))
	addr, err := netip.ParseAddr(s)
	if err != nil {
		return nil, control.BadRequest("policy explain: %q is not an IP address", s)
	}
	pol, _, _ := d.policy.get()
	return pol.Lookup(addr).Explain(), nil
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
	res.OK, res.Prefixes = true, pol.Len()
	return res, nil
}

func (d *daemon) handlePolicyReload(r *http.Request) (any, error) {
	return d.reloadPolicy(r.Context()), nil
}
