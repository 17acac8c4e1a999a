package main

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/internal/config"
	"github.com/oemesh/oemesh/internal/control"
	"github.com/oemesh/oemesh/internal/ipsecconf"
	"github.com/oemesh/oemesh/oe"
	"github.com/oemesh/oemesh/oe/conn"
)

// connSet is the daemon's side of the configured conns: where each came
// from, and the pre-shared keys read from their secrets files (never kept
// in the configuration).
type connSet struct {
	mu      sync.Mutex
	conns   map[string]config.Conn // by name, as configured
	file    map[string]string      // by name: the file it came from
	secrets map[string]*ipsecconf.Secrets
	certs   connCerts // the certificate files of the auth cert conns (certconns.go)
}

func (s *connSet) init() {
	if s.conns == nil {
		s.conns, s.file, s.secrets = map[string]config.Conn{}, map[string]string{}, map[string]*ipsecconf.Secrets{}
	}
}

// loadSecrets reads the secrets files the conns name (0600 only).
func (s *connSet) loadSecrets(conns []config.Conn) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	var errs []error
	fresh := map[string]*ipsecconf.Secrets{}
	for _, c := range conns {
		if c.PSK == "" || fresh[c.PSK] != nil {
			continue
		}
		sec, err := ipsecconf.LoadSecrets(c.PSK)
		if err != nil {
			errs = append(errs, fmt.Errorf("conn %s: key psk: %w", c.Name, err))
			continue
		}
		fresh[c.PSK] = sec
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	for k, v := range fresh {
		s.secrets[k] = v
	}
	for _, c := range conns {
		if c.PSK == "" {
			continue
		}
		if _, _, ok := s.secrets[c.PSK].PSK(connLocalID(c), connRemoteID(c)); !ok {
			errs = append(errs, fmt.Errorf("conn %s: key psk: %s holds no PSK for %s and %s", c.Name, c.PSK, connLocalID(c), connRemoteID(c)))
		}
	}
	return errors.Join(errs...)
}

func connLocalID(c config.Conn) string {
	if c.LocalID != "" {
		return c.LocalID
	}
	return c.LocalAddr.String()
}

func connRemoteID(c config.Conn) string {
	if c.RemoteID != "" {
		return c.RemoteID
	}
	if c.RemoteAddr.IsValid() {
		return c.RemoteAddr.String()
	}
	return "%any"
}

// psk is the engine's Credentials.PSK: the key of the PSK conn whose
// remote side is this peer identity.
func (s *connSet) psk(peer ike.Identity) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	pid := peerIDText(peer)
	for _, c := range s.conns {
		if c.Auth != "psk" || s.secrets[c.PSK] == nil {
			continue
		}
		if rid := connRemoteID(c); rid != pid && !(rid == "%any" && c.RemoteID == "") {
			continue
		}
		if k, _, ok := s.secrets[c.PSK].PSK(connLocalID(c), pid); ok {
			return k
		}
	}
	return nil
}

func peerIDText(id ike.Identity) string {
	if a, ok := id.Addr(); ok {
		return a.String()
	}
	if id.Type == ike.IDFQDN {
		return "@" + strings.TrimSuffix(string(id.Data), ".")
	}
	return id.String()
}

// liveness is the engine's liveness interval: the shortest DPD interval
// among the conns (the engine has one for all IKE SAs).
func liveness(conns []config.Conn) time.Duration {
	var d time.Duration
	for _, c := range conns {
		if c.DPD.Interval > 0 && (d == 0 || c.DPD.Interval < d) {
			d = c.DPD.Interval
		}
	}
	return d
}

// toOE turns a configured conn into oe's terms: addresses resolved, key
// files read, proposals parsed.
func (d *daemon) toOE(c config.Conn, source string) (conn.Conn, error) {
	bad := func(key string, err error) error { return connError(source, c.Name, key, err) }
	oc := conn.Conn{
		Name: c.Name, Local: c.LocalAddr, Remote: c.RemoteAddr, LocalSubnets: c.LocalSubnets, RemoteSubnets: c.RemoteSubnets,
		KeyingTries: c.KeyingTries, Lifetime: c.Lifetime, Rekey: c.Rekey, IKELifetime: c.IKELifetime, DPDInterval: c.DPD.Interval, DPDAction: c.DPD.Action, Auto: c.Auto,
		UniqueIDs: c.UniqueIDs, Updown: c.Updown, Source: source, Mode: ike.ModeTunnel,
	}
	if c.CopyDSCP {
		return oc, bad("copy_dscp", errors.New("true is not supported yet: both data planes send ESP with DSCP 0 (FreeS/WAN's hidetos=yes); remove the key"))
	}
	if c.IKELifetime > d.cfg.OE.IKELifetime || c.Lifetime > d.cfg.OE.ChildLifetime {
		d.log.Warn("conn: the engine rekeys every SA at oe.ike_lifetime and oe.child_lifetime; a conn's longer lifetime waits for neither",
			"conn", c.Name, "ike_lifetime", c.IKELifetime, "oe.ike_lifetime", d.cfg.OE.IKELifetime,
			"lifetime", c.Lifetime, "oe.child_lifetime", d.cfg.OE.ChildLifetime)
	}
	if lv := liveness(d.startConns); c.DPD.Interval > 0 && lv == 0 {
		d.log.Warn("conn: dpd is off: liveness checks start with the daemon, and no conn of the configuration file sets a dpd interval (restart to turn them on)",
			"conn", c.Name, "dpd.interval", c.DPD.Interval)
	} else if c.DPD.Interval > 0 && c.DPD.Interval != lv {
		d.log.Warn("conn: the engine checks liveness of every IKE SA at the shortest DPD interval of the conns",
			"conn", c.Name, "dpd.interval", c.DPD.Interval, "used", lv)
	}
	if !oc.Local.IsValid() {
		a, why, err := defaultRouteAddr()
		if err != nil {
			return oc, bad("local", fmt.Errorf("%%defaultroute: %w", err))
		}
		d.log.Info("conn: local is %defaultroute", "conn", c.Name, "addr", a, "why", why)
		oc.Local = a
	}
	if c.Mode == "transport" {
		oc.Mode = ike.ModeTransport
	}
	switch c.Auth {
	case "psk":
		oc.Auth = ike.AuthKindPSK
	case "null":
		oc.Auth = ike.AuthKindNull
	case "cert":
		oc.Auth = ike.AuthKindCert
	default:
		oc.Auth = ike.AuthKindPubkey
	}
	if c.RemoteID != "" {
		id, err := connRemoteIdentity(c)
		if err != nil {
			return oc, bad("remote_id", err)
		}
		oc.RemoteID = id
	}
	// A cert conn's local_id is its certificate's (connCerts.load checked
	// it); a key or PSK conn's own local_id is what it claims instead of
	// the daemon's identity, as initiator and as responder
	// (conn.Conns.LocalIDFor). NULL sends ID_NULL whatever is set.
	if c.LocalID != "" && c.Auth != "cert" && c.Auth != "null" {
		oc.LocalID = parseID(c.LocalID)
	}
	if c.Auth == "pubkey" && c.RemoteKey != "dns" {
		k, err := dnskey.LoadPublicKeyPEM(c.RemoteKey)
		if err != nil {
			return oc, bad("remote_key", err)
		}
		oc.RemoteKeys = []crypto.PublicKey{k}
	}
	var err error
	if oc.IKE, oc.ESP, err = connProposals(c, source); err != nil {
		return oc, err
	}
	return oc, nil
}

// connProposals parses a conn's ike: and esp: proposals (strongSwan's
// syntax, keN_ additional key exchanges included); empty ones are zero
// Policies, which stand for the defaults. Whether oemesh can run what they
// name is ike's to say (ParseProposals validates the policy); the error
// names the file, the conn and the key.
func connProposals(c config.Conn, source string) (ikeP, espP ike.Policy, err error) {
	if c.IKE != "" {
		if ikeP, err = ike.ParseProposals(ike.ProtocolIKE, c.IKE); err != nil {
			return ikeP, espP, connError(source, c.Name, "ike", err)
		}
	}
	if c.ESP != "" {
		if espP, err = ike.ParseProposals(ike.ProtocolESP, c.ESP); err != nil {
			return ikeP, espP, connError(source, c.Name, "esp", err)
		}
	}
	return ikeP, espP, nil
}

// connError says which key of which conn, in which file, is wrong.
func connError(source, name, key string, err error) error {
	if source == "" {
		return fmt.Errorf("conn %s: key %s: %w", name, key, err)
	}
	return fmt.Errorf("%s: conn %s: key %s: %w", source, name, key, err)
}

func parseID(s string) ike.Identity {
	if strings.HasPrefix(s, "@") {
		return ike.FQDNIdentity(strings.TrimPrefix(s, "@"))
	}
	return ike.AddrIdentity(netip.MustParseAddr(s))
}

// readConns reads and checks the conns of the main configuration file,
// with their proposals and secrets, before the stack starts.
func (d *daemon) readConns() ([]config.Conn, error) {
	conns, err := config.LoadConns(d.cfg.File)
	if err != nil {
		return nil, err
	}
	// Proposals are checked here, before the stack starts, so that a conn
	// oemesh cannot run stops the daemon before it touches the data plane.
	var errs []error
	for _, c := range conns {
		if _, _, err := connProposals(c, d.cfg.File); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if err := d.conns.loadSecrets(conns); err != nil {
		return nil, err
	}
	// The engine is built with the certificates these name, and their
	// verifiers with certs.*.
	rev, err := d.certRevocation()
	if err != nil {
		return nil, err
	}
	d.conns.certs.rev = rev
	if err := d.conns.certs.load(conns, true); err != nil {
		return nil, err
	}
	return conns, nil
}

// addConns puts conns into oe (auto=route traps, auto=start initiates).
func (d *daemon) addConns(ctx context.Context, conns []config.Conn, source string, replace bool) error {
	var errs []error
	for _, c := range conns {
		oc, err := d.toOE(c, source)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		d.conns.mu.Lock()
		d.conns.init()
		d.conns.conns[c.Name], d.conns.file[c.Name] = c, source
		d.conns.mu.Unlock()
		if replace {
			err = d.stack.Conns().Replace(ctx, oc)
		} else {
			err = d.stack.Conns().Add(ctx, oc)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (d *daemon) registerConnHandlers() {
	d.ctl.Handle("GET /v1/conns", d.handleConnList)
	d.ctl.Handle("POST /v1/conn/{verb}", d.handleConnVerb)
	d.ctl.Handle("POST /v1/conns/add", d.handleConnAdd)
	d.ctl.Handle("POST /v1/secrets/reload", d.handleSecretsReload)
}

func readConnRequest(r *http.Request) (control.ConnRequest, error) {
	var req control.ConnRequest
	if err := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 8192)).Decode(&req); err != nil {
		return req, control.BadRequest("bad request body: %v", err)
	}
	return req, nil
}

func (d *daemon) handleConnList(*http.Request) (any, error) {
	if err := d.needOE(); err != nil {
		return nil, err
	}
	return connsView(d.stack.Conns().List()), nil
}

func (d *daemon) handleConnVerb(r *http.Request) (any, error) {
	if err := d.needOE(); err != nil {
		return nil, err
	}
	req, err := readConnRequest(r)
	if err != nil {
		return nil, err
	}
	verb := r.PathValue("verb")
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Minute)
	defer cancel()
	switch verb {
	case "up":
		// The CLI waits 30 s; the negotiation goes on when this does not.
		upCtx, upCancel := context.WithTimeout(ctx, 25*time.Second)
		err = d.stack.Conns().Up(upCtx, req.Name)
		upCancel()
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("conn %s: still negotiating after 25s (keying_tries %s); `oemesh conn list` shows how it goes", req.Name, triesText(d.conns.get(req.Name).KeyingTries))
		}
	case "down":
		err = d.stack.Conns().Down(ctx, req.Name)
	case "route":
		err = d.stack.Conns().Route(ctx, req.Name)
	case "unroute":
		err = d.stack.Conns().Unroute(ctx, req.Name)
	case "replace":
		err = d.replaceConn(ctx, req.Name)
	default:
		return nil, control.BadRequest("unknown conn command %q", verb)
	}
	if err != nil {
		return control.ConnReply{Detail: err.Error()}, nil
	}
	return control.ConnReply{OK: true, Detail: fmt.Sprintf("conn %s: %s done", req.Name, verb)}, nil
}

// replaceConn re-reads the conn from the file it came from and puts the
// new version in force (`ipsec auto --replace`).
func (d *daemon) replaceConn(ctx context.Context, name string) error {
	d.conns.mu.Lock()
	file, ok := d.conns.file[name]
	d.conns.mu.Unlock()
	if !ok {
		file = d.cfg.File
	}
	conns, err := config.LoadConns(file)
	if err != nil {
		return err
	}
	for _, c := range conns {
		if c.Name == name {
			if err := d.conns.loadSecrets([]config.Conn{c}); err != nil {
				return err
			}
			if err := d.conns.certs.load([]config.Conn{c}, d.conns.certs.engineVerifies()); err != nil {
				return err
			}
			d.pushConnCerts()
			return d.addConns(ctx, []config.Conn{c}, file, true)
		}
	}
	if ok {
		return fmt.Errorf("conn %s is no longer in %s; it stays as it was", name, file)
	}
	return fmt.Errorf("no conn %s in %s", name, file)
}

// handleConnAdd adds the conns of a file without a restart.
func (d *daemon) handleConnAdd(r *http.Request) (any, error) {
	if err := d.needOE(); err != nil {
		return nil, err
	}
	req, err := readConnRequest(r)
	if err != nil {
		return nil, err
	}
	conns, err := config.LoadConns(req.File)
	if err == nil && len(conns) == 0 {
		err = fmt.Errorf("%s has no conns", req.File)
	}
	if err == nil {
		err = d.conns.loadSecrets(conns)
	}
	if err == nil {
		err = d.conns.certs.load(conns, d.conns.certs.engineVerifies())
	}
	if err == nil {
		d.pushConnCerts()
	}
	if err == nil {
		err = d.addConns(r.Context(), conns, req.File, false)
	}
	if err != nil {
		return control.ConnReply{Detail: err.Error()}, nil
	}
	names := make([]string, len(conns))
	for i, c := range conns {
		names[i] = c.Name
	}
	return control.ConnReply{OK: true, Detail: "added " + strings.Join(names, ", ")}, nil
}

func (d *daemon) handleSecretsReload(*http.Request) (any, error) {
	d.conns.mu.Lock()
	conns := make([]config.Conn, 0, len(d.conns.conns))
	for _, c := range d.conns.conns {
		conns = append(conns, c)
	}
	d.conns.mu.Unlock()
	if err := d.conns.loadSecrets(conns); err != nil {
		return control.ConnReply{Detail: err.Error()}, nil
	}
	n := 0
	for _, c := range conns {
		if c.PSK != "" {
			n++
		}
	}
	return control.ConnReply{OK: true, Detail: fmt.Sprintf("secrets reloaded for %d PSK conn(s)", n)}, nil
}

// connExplain names the conn when one is more specific than the policy
// groups for addr.
func (d *daemon) connExplain(addr netip.Addr) (control.Explanation, bool) {
	if d.stack == nil {
		return control.Explanation{}, false
	}
	name, p, ok := d.stack.Conns().For(addr)
	if !ok {
		return control.Explanation{}, false
	}
	d.conns.mu.Lock()
	file := d.conns.file[name]
	d.conns.mu.Unlock()
	ps := p.String()
	return control.Explanation{Address: addr.String(), Group: control.GroupPrivate, Prefix: &ps,
		Source: "conn " + name + " in " + file, Conn: name}, true
}

// connSummary is each conn's state in one line, for `oemesh status`.
func (d *daemon) connSummary() map[string]any {
	out := map[string]any{}
	if d.stack == nil {
		return out
	}
	for _, c := range d.stack.Conns().List() {
		s := c.State.String()
		if c.Routed {
			s += ", routed (" + strings.Join(c.RemoteSubnets, ",") + " trapped: packets wait for the tunnel and are dropped while it cannot be set up)"
		} else {
			s += ", not routed"
		}
		s += fmt.Sprintf(", %d tunnel(s), try %d of %s", c.Tunnels, c.Tries, triesText(c.KeyingTries))
		if c.LastError != "" {
			s += "; last error: " + c.LastError
		}
		if strings.Contains(c.LastUpdown, "FAILED") {
			s += "; updown: " + c.LastUpdown
		}
		out["conn "+c.Name] = s
	}
	return out
}

func triesText(n int) string {
	if n == 0 {
		return "forever"
	}
	return fmt.Sprint(n)
}

// checkConns validates the conns of the configuration as the daemon would
// take them (secrets files, key files, proposals), for --check-config.
func checkConns(out io.Writer, cfg *config.Config) error {
	d := &daemon{cfg: cfg, log: slog.New(slog.DiscardHandler)}
	conns, err := d.readConns()
	if err != nil {
		return fmt.Errorf("conns: %w", err)
	}
	d.startConns = conns
	var errs []error
	for _, c := range conns {
		if _, err := d.toOE(c, cfg.File); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("conns: %w", errors.Join(errs...))
	}
	if len(conns) > 0 {
		fmt.Fprintf(out, "conns: %d ok\n", len(conns))
	}
	return nil
}

func (s *connSet) get(name string) config.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns[name]
}

// stats are OE's counters with the conns' added in: acquires, refusals,
// tunnels and failures count both, as when conns lived in OE.
func (d *daemon) stats() oe.Stats {
	s := d.oe.Stats()
	c := d.stack.Conns().Stats()
	s.Acquires += c.Acquires
	s.Refused += c.Refused
	s.TunnelsUp += c.TunnelsUp
	if len(c.Failures) > 0 && s.Failures == nil {
		s.Failures = map[string]uint64{}
	}
	for reason, n := range c.Failures {
		s.Failures[reason] += n
	}
	return s
}
