package publish

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Config is what a Publisher needs.
type Config struct {
	Spec Spec
	Key  TSIGKey
	// Primary is the HOST:PORT (or address, port 53) every UPDATE goes to;
	// empty: found through the SOA MNAME of each zone.
	Primary string
	// Zone is the zone every record is in; empty: found through the SOA
	// lookup of each name.
	Zone string
	// Resolvers answer the SOA and address lookups when Primary or Zone
	// is empty: HOST:PORT, in order.
	Resolvers []string
	// Timeout bounds each exchange; default 5s.
	Timeout time.Duration
	Log     *slog.Logger
}

// Publisher sends the UPDATEs that publish, add or withdraw our records.
type Publisher struct {
	cfg Config
	ex  exchange
}

// New checks cfg and returns a Publisher.
func New(cfg Config) (*Publisher, error) {
	if err := cfg.Spec.Check(); err != nil {
		return nil, fmt.Errorf("dns.publish: %w", err)
	}
	if cfg.Key.Name == "" {
		return nil, errors.New("dns.publish: no TSIG key")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Primary != "" {
		p, err := hostPort(cfg.Primary)
		if err != nil {
			return nil, fmt.Errorf("dns.publish.primary: %w", err)
		}
		cfg.Primary = p
	}
	if cfg.Zone != "" {
		cfg.Zone = dns.CanonicalName(cfg.Zone)
	}
	if cfg.Primary == "" && len(cfg.Resolvers) == 0 {
		return nil, errors.New("dns.publish: no primary and no resolver to find it with")
	}
	p := &Publisher{cfg: cfg}
	p.ex = p.exchange
	return p, nil
}

// hostPort accepts ADDR, ADDR:PORT or HOST:PORT.
func hostPort(s string) (string, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return net.JoinHostPort(a.String(), "53"), nil
	}
	if _, _, err := net.SplitHostPort(s); err != nil {
		return "", fmt.Errorf("%q is not ADDRESS or HOST:PORT", s)
	}
	return s, nil
}

// Set publishes exactly keys' records (one key normally; two during a
// rollover) and our address records, replacing what our RRsets held.
func (p *Publisher) Set(ctx context.Context, keys ...crypto.PublicKey) error {
	return p.apply(ctx, OpSet, keys)
}

// Add publishes keys' records beside whatever is there.
func (p *Publisher) Add(ctx context.Context, keys ...crypto.PublicKey) error {
	return p.apply(ctx, OpAdd, keys)
}

// Withdraw deletes keys' records and our address records, nothing else.
func (p *Publisher) Withdraw(ctx context.Context, keys ...crypto.PublicKey) error {
	return p.apply(ctx, OpWithdraw, keys)
}

func (p *Publisher) apply(ctx context.Context, op Op, keys []crypto.PublicKey) error {
	c, err := Plan(p.cfg.Spec, op, keys)
	if err != nil {
		return err
	}
	zones := map[string]string{}  // zone → primary's name (SOA MNAME)
	byName := map[string]string{} // owner name → zone, so each is asked once
	zoneOf := func(name string) (string, error) {
		if z, ok := byName[name]; ok {
			return z, nil
		}
		if p.cfg.Zone != "" {
			if !dns.IsSubDomain(p.cfg.Zone, name) {
				return "", fmt.Errorf("%s is not in zone %s (dns.publish.zone)", name, p.cfg.Zone)
			}
			return p.cfg.Zone, nil
		}
		servers := p.cfg.Resolvers
		if p.cfg.Primary != "" {
			servers = []string{p.cfg.Primary}
		}
		z, mname, err := findZone(ctx, p.ex, servers, name)
		if err != nil {
			return "", err
		}
		if _, ok := zones[z]; !ok && p.cfg.Primary == "" {
			zones[z] = mname
		}
		byName[name] = z
		return z, nil
	}
	changes, err := c.byZone(zoneOf)
	if err != nil {
		return err
	}
	var errs []error
	for _, ch := range changes {
		if err := p.send(ctx, ch, zones[ch.Zone]); err != nil {
			errs = append(errs, err)
			continue
		}
		p.cfg.Log.Info("DNS UPDATE applied", "op", op, "zone", ch.Zone, "records", ch.Records())
	}
	return errors.Join(errs...)
}

// send signs and sends one zone's UPDATE to its primary: the configured
// one, else the MNAME's addresses in turn until one answers.
func (p *Publisher) send(ctx context.Context, ch Change, mname string) error {
	servers := []string{p.cfg.Primary}
	if p.cfg.Primary == "" {
		if mname == "" {
			// The zone came from dns.publish.zone: ask for its SOA.
			_, m, err := findZone(ctx, p.ex, p.cfg.Resolvers, ch.Zone)
			if err != nil {
				return fmt.Errorf("primary of zone %s: %w", ch.Zone, err)
			}
			mname = m
		}
		addrs, err := resolveHost(ctx, p.ex, p.cfg.Resolvers, mname)
		if err != nil {
			return fmt.Errorf("primary of zone %s: %w", ch.Zone, err)
		}
		servers = addrs
	}
	var err error
	for _, s := range servers {
		if err = p.sendTo(ctx, ch, s); err == nil {
			return nil
		}
		var ue *UpdateError
		if errors.As(err, &ue) && ue.Rcode >= 0 {
			return err // the primary answered: another address of it would too
		}
	}
	return err
}

func (p *Publisher) sendTo(ctx context.Context, ch Change, server string) error {
	m := ch.Msg()
	m.SetTsig(p.cfg.Key.Name, p.cfg.Key.Algorithm, 300, time.Now().Unix())
	ue := &UpdateError{Server: server, Zone: ch.Zone, Records: ch.Records(), Rcode: -1}
	r, err := p.ex(ctx, m, server)
	if r == nil {
		ue.Err = err
		return ue
	}
	ue.Rcode = r.Rcode
	if t := r.IsTsig(); t != nil {
		ue.TSIGError = t.Error
	}
	if r.Rcode == dns.RcodeSuccess && err == nil {
		return nil
	}
	if r.Rcode == dns.RcodeSuccess {
		// An unverified "success" proves nothing.
		ue.Err = fmt.Errorf("the answer's TSIG signature did not verify: %w", err)
	} else if err != nil && ue.TSIGError == 0 {
		ue.Err = err
	}
	return ue
}

// exchange is the real transport: TCP (keys make UPDATEs large), signed
// with the TSIG key when the message carries a TSIG record.
func (p *Publisher) exchange(ctx context.Context, m *dns.Msg, server string) (*dns.Msg, error) {
	c := &dns.Client{Net: "tcp", Timeout: p.cfg.Timeout,
		TsigSecret: map[string]string{p.cfg.Key.Name: p.cfg.Key.Secret}}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	if m.Opcode == dns.OpcodeQuery {
		c.Net = "udp"
		m.RecursionDesired = true
		r, _, err := c.ExchangeContext(ctx, m, server)
		if err == nil && r.Truncated {
			c.Net = "tcp"
			r, _, err = c.ExchangeContext(ctx, m, server)
		}
		return r, err
	}
	r, _, err := c.ExchangeContext(ctx, m, server)
	return r, err
}

// String describes where p publishes, for logs.
func (p *Publisher) String() string {
	var parts []string
	s := p.cfg.Spec
	if s.AtForward {
		parts = append(parts, "IPSECKEY at "+s.Forward)
	}
	if s.AtReverse {
		parts = append(parts, "IPSECKEY at the reverse names")
	}
	if s.AddressRecords {
		parts = append(parts, "A/AAAA at "+s.Forward)
	}
	to := p.cfg.Primary
	if to == "" {
		to = "each zone's SOA MNAME"
	}
	return strings.Join(parts, ", ") + " via " + to
}
