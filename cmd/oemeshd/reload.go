package main

// Reload (SIGHUP, `systemctl reload oemeshd`): everything that can change
// without dropping tunnels, read again in one pass, each part on its own so
// that a broken file holds back only what it would have replaced:
//
//   - the configuration file: log.level, dns.servers, dns.timeout and
//     dns.exempt_servers are put in force; any other key that changed is
//     named in a warning and waits for a restart;
//   - the conns of the configuration file (a new conn is added, a changed
//     one replaced as `oemesh conn replace` does, an unchanged one left
//     alone with its tunnels) and the secrets of every conn;
//   - the policy directory (daemon.reloadPolicy);
//   - the host key: a new one starts a key rollover (publish.go);
//   - certificates, CA bundles and CRLs (certreload.go).
//
// A file that does not load keeps what it held in force, and the error
// says where (FILE:LINE for the policy files and the configuration's keys).

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/oemesh/oemesh/internal/config"
)

// reloadResult is what one reload did, for the log and systemd's STATUS=.
type reloadResult struct {
	applied []string // what changed and is in force now
	failed  []string // the parts that did not load and were kept as they were
	restart []string // keys that changed but take effect at the next restart
}

func (r reloadResult) status() string {
	s := "reloaded"
	if len(r.applied) > 0 {
		s += " (" + strings.Join(r.applied, ", ") + ")"
	}
	if len(r.failed) > 0 {
		s += "; kept the old " + strings.Join(r.failed, ", ") + " (see the log)"
	}
	if len(r.restart) > 0 {
		s += "; restart for " + strings.Join(r.restart, ", ")
	}
	return s
}

// reload reads everything again and puts in force what loads.
func (d *daemon) reload(ctx context.Context) reloadResult {
	var res reloadResult
	d.log.Info("reloading the configuration, conns, secrets, policies, the host key, certificates, CA bundles and CRLs",
		"config", d.cfg.File)
	d.reloadConfig(ctx, &res)
	pc := d.reloadPolicy(ctx)
	switch {
	case !pc.OK:
		res.failed = append(res.failed, "policy")
	case pc.Added+pc.Removed+pc.Changed > 0:
		res.applied = append(res.applied, "policy")
	}
	d.reloadHostKey()
	if d.stack != nil {
		d.reloadCerts(d.stack.Engine())
	}
	log := d.log.Info
	if len(res.failed) > 0 {
		log = d.log.Warn
	}
	log("reload done", "applied", res.applied, "kept", res.failed, "at_restart", res.restart)
	return res
}

// reloadConfig reads the configuration file (with this start's environment
// and flags) and applies its live keys and its conns.
func (d *daemon) reloadConfig(ctx context.Context, res *reloadResult) {
	if d.reread == nil {
		return
	}
	next, err := d.reread()
	if err != nil {
		d.log.Error("reload: configuration not reloaded; keeping the settings in force: fix the file and reload again",
			"file", d.cfg.File, "err", err)
		res.failed = append(res.failed, "configuration")
		return
	}
	old := d.live.Load()
	in := *old
	if next.Log.Level != old.Log.Level {
		d.level.Set(next.Log.Level)
		in.Log.Level = next.Log.Level
		res.applied = append(res.applied, "log.level "+next.Log.Level.String())
	}
	if !slices.Equal(next.DNS.Servers, old.DNS.Servers) || next.DNS.Timeout != old.DNS.Timeout ||
		next.DNS.ExemptServers != old.DNS.ExemptServers {
		if d.applyDNS(next) {
			in.DNS.Servers, in.DNS.Timeout, in.DNS.ExemptServers = next.DNS.Servers, next.DNS.Timeout, next.DNS.ExemptServers
			res.applied = append(res.applied, "dns")
		} else {
			res.failed = append(res.failed, "dns settings")
		}
	}
	d.live.Store(&in)
	res.restart = changedKeys(in.Summary(), next.Summary())
	if len(res.restart) > 0 {
		d.log.Warn("reload: these settings changed in the configuration and take effect at the next restart",
			"keys", res.restart, "file", d.cfg.File)
	}
	d.reloadConns(ctx, res)
}

// applyDNS puts next's servers and timeout into the resolver, and exempts
// the new servers from OE (the next policy load applies the exemptions).
func (d *daemon) applyDNS(next *config.Config) bool {
	ex, err := dnsExemptions(next)
	if err != nil {
		d.log.Error("reload: DNS settings not reloaded; keeping the servers in force: the new dns.servers cannot be exempted from OE",
			"servers", next.DNS.Servers, "err", err)
		return false
	}
	if d.resolver != nil {
		if err := d.resolver.Reconfigure(next.DNS.Servers, next.DNS.Timeout); err != nil {
			d.log.Error("reload: DNS settings not reloaded; keeping the servers in force: check dns.servers",
				"servers", next.DNS.Servers, "err", err)
			return false
		}
	}
	d.exemptions.Store(&ex)
	d.log.Info("reload: DNS settings in force", "servers", next.DNS.Servers, "timeout", next.DNS.Timeout,
		"exempt_servers", next.DNS.ExemptServers)
	return true
}

// changedKeys lists the keys whose values differ between two summaries.
func changedKeys(in, next map[string]any) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(next)) {
		if !reflect.DeepEqual(in[k], next[k]) {
			out = append(out, k)
		}
	}
	return out
}

// reloadConns reads the conns of the configuration file and the secrets of
// every conn, then adds the new conns and replaces the changed ones. A conn
// no longer in the file stays until a restart: a reload never takes a
// tunnel down by itself.
func (d *daemon) reloadConns(ctx context.Context, res *reloadResult) {
	if d.stack == nil {
		return
	}
	file := d.cfg.File
	conns, err := config.LoadConns(file)
	if err == nil {
		for _, c := range conns {
			if _, _, perr := connProposals(c, file); perr != nil {
				err = perr
				break
			}
		}
	}
	if err != nil {
		d.log.Error("reload: conns not reloaded; keeping the conns in force", "file", file, "err", err)
		res.failed = append(res.failed, "conns")
		return
	}
	d.conns.mu.Lock()
	all := maps.Clone(d.conns.conns)
	var changed []config.Conn
	seen := map[string]bool{}
	for _, c := range conns {
		seen[c.Name] = true
		if old, ok := d.conns.conns[c.Name]; !ok || !reflect.DeepEqual(old, c) {
			changed = append(changed, c)
		}
		all[c.Name] = c
	}
	var gone []string
	for name, f := range d.conns.file {
		if f == file && !seen[name] {
			gone = append(gone, name)
		}
	}
	d.conns.mu.Unlock()
	if err := d.conns.loadSecrets(slices.Collect(maps.Values(all))); err != nil {
		d.log.Error("reload: secrets not reloaded, nor the conns that need them; keeping those in force", "err", err)
		res.failed = append(res.failed, "secrets")
		return
	}
	for _, name := range gone {
		d.log.Warn("reload: conn no longer in the configuration; it stays until a restart (or `oemesh conn down`)",
			"conn", name, "file", file)
	}
	if len(changed) == 0 {
		return
	}
	if err := d.conns.certs.load(changed, d.conns.certs.engineVerifies()); err != nil {
		d.log.Error("reload: changed conns not reloaded: their certificates do not load", "err", err)
		res.failed = append(res.failed, "conns")
		return
	}
	d.pushConnCerts()
	if err := d.addConns(ctx, changed, file, true); err != nil {
		d.log.Error("reload: conns not all put in force", "err", err)
		res.failed = append(res.failed, "conns")
		return
	}
	res.applied = append(res.applied, fmt.Sprintf("%d conn(s)", len(changed)))
}
