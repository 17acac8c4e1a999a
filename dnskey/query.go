package dnskey

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// exchange asks the configured servers for (name, qtype): each server in
// turn, the whole list twice (one retry), each attempt bounded by the
// per-query timeout; a truncated UDP answer is asked again over TCP. It
// returns a NOERROR or NXDOMAIN answer, or an error wrapping ErrDNSFailure
// (or the context's error).
func (r *Resolver) exchange(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	q.RecursionDesired = true
	// DO asks for DNSSEC records, AD in the query asks a validating
	// resolver to report the AD bit even to a non-validating client
	// (RFC 6840 §5.7).
	q.SetEdns0(r.cfg.UDPSize, true)
	q.AuthenticatedData = true

	var errs []serverError
	up := r.upstream.Load()
	for attempt := 0; attempt < 2; attempt++ {
		for _, srv := range up.servers {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("%s %s: %w", name, dns.TypeToString[qtype], err)
			}
			resp, err := r.exchangeOne(ctx, q, srv, up.timeout)
			if err == nil {
				switch resp.Rcode {
				case dns.RcodeSuccess, dns.RcodeNameError:
					return resp, nil
				}
				err = fmt.Errorf("rcode %s", dns.RcodeToString[resp.Rcode])
			}
			if ctx.Err() != nil {
				return nil, fmt.Errorf("%s %s: %w", name, dns.TypeToString[qtype], ctx.Err())
			}
			errs = append(errs, serverError{srv, err.Error()})
			r.cfg.Logger.Debug("dnskey: query failed", "name", name, "type", dns.TypeToString[qtype],
				"server", srv, "attempt", attempt+1, "err", err)
		}
	}
	return nil, &queryFailure{name: name, qtype: dns.TypeToString[qtype], why: serverReasons(errs)}
}

func (r *Resolver) exchangeOne(ctx context.Context, q *dns.Msg, srv string, timeout time.Duration) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	r.stats.queries.Add(1)
	c := &dns.Client{Net: "udp", Timeout: timeout, UDPSize: r.cfg.UDPSize}
	resp, _, err := c.ExchangeContext(ctx, q, srv)
	if err == nil && resp.Truncated {
		r.stats.queries.Add(1)
		c.Net = "tcp"
		resp, _, err = c.ExchangeContext(ctx, q, srv)
	}
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, fmt.Errorf("timeout after %v", timeout)
		}
		return nil, err
	}
	if len(resp.Question) != 1 || resp.Question[0].Qtype != q.Question[0].Qtype ||
		!strings.EqualFold(resp.Question[0].Name, q.Question[0].Name) {
		return nil, errors.New("answer is for another question")
	}
	return resp, nil
}
